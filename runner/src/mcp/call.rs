//! One `tools/call`: find the tool, check that it may run and that its
//! arguments fit, run it through the exec operation, and turn how it ended
//! into the call's result.

use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock, ErrorData, Implementation};

use super::Setup;
use super::input;
use crate::exec::{Ended, Request, TaskSource, ToolCaller};
use crate::policy::{Policy, Tool, ToolKind};
use crate::sandbox::{Outcome, TaskIo};

/// A call that passed every check and is ready to run.
pub(super) struct Call {
    tool: Tool,
    caller: ToolCaller,
    /// The arguments as JSON, for the task's stdin.
    stdin: Vec<u8>,
}

impl Call {
    /// Checks the call against the policy; an unknown tool, a tool that may
    /// not run and bad arguments are errors of the request (`-32602`).
    pub(super) fn new(
        policy: &Policy,
        request: &CallToolRequestParams,
        client: Option<Implementation>,
    ) -> Result<Call, ErrorData> {
        let name = request.name.as_ref();
        let Some(tool) = policy.tool(name) else {
            // A name of any length and content: shown clipped, escaped.
            let shown = input::clipped(name);
            eprintln!("scopehold: mcp: a call of unknown tool {shown:?} was refused");
            return Err(ErrorData::invalid_params(
                format!("unknown tool {shown:?}; tools/list shows the tools there are"),
                None,
            ));
        };
        if let Err(error) = runnable(policy, tool) {
            eprintln!("scopehold: mcp: tool {name} may not run: {error:#}");
            let hint = crate::report::hint_for(&error)
                .map(|hint| format!(" (hint for the operator: {hint})"))
                .unwrap_or_default();
            let message = format!("tool {name} is not available: {error:#}{hint}");
            return Err(ErrorData::invalid_params(message, None));
        }
        let stdin = input::check(tool, request.arguments.as_ref())
            .map_err(|error| ErrorData::invalid_params(format!("tool {name}: {error}"), None))?;
        let client = client.unwrap_or_else(|| Implementation::new("unknown", ""));
        Ok(Call {
            tool: tool.clone(),
            caller: ToolCaller {
                tool: name.to_owned(),
                client: client.name,
                client_version: client.version,
            },
            stdin,
        })
    }

    /// Runs the tool's task; blocking (call it off the async runtime).
    pub(super) fn run(self, setup: &Setup, policy: Policy) -> Result<CallToolResult, ErrorData> {
        let ToolKind::Component { path } = &self.tool.kind;
        let ended = crate::exec::run(Request {
            policy: &policy,
            home: setup.home.as_deref(),
            database_url: setup
                .database_url
                .as_ref()
                .map(crate::cli::DatabaseUrl::secret),
            agent: self.tool.agent.as_str(),
            task: TaskSource::File(path),
            args: &self.tool.args,
            io: TaskIo::capture(self.stdin),
            watch_signals: false,
            tool: Some(self.caller),
            summary: None,
        });
        match ended {
            Ok(ended) => Ok(result(&ended)),
            Err(error) => {
                let hint = crate::report::hint_for(&error)
                    .map(|hint| format!("; hint: {hint}"))
                    .unwrap_or_default();
                eprintln!("scopehold: mcp: tool {} failed: {error:#}", self.tool.name);
                let message = format!("the runner could not run the task: {error:#}{hint}");
                Err(ErrorData::internal_error(message, None))
            }
        }
    }
}

/// Whether `tool` may run now: its component is readable, is a component,
/// and is one its agent may run (the pin check of `runner exec`).
pub(super) fn runnable(policy: &Policy, tool: &Tool) -> anyhow::Result<()> {
    let agent = policy.agent(tool.agent.as_str())?;
    match &tool.kind {
        ToolKind::Component { path } => {
            let wasm = crate::task_file::read(path)?;
            crate::exec::check_pinned(agent, &crate::policy::ComponentDigest::of(&wasm))
        }
    }
}

/// The call's result: the task's stdout; when the task did not exit 0,
/// `isError` with the runner's reason and the task's stderr.
fn result(ended: &Ended) -> CallToolResult {
    let TaskIo::Capture { stdout, stderr, .. } = &ended.io else {
        return CallToolResult::error(vec![ContentBlock::text(
            "the task's output was not captured",
        )]);
    };
    let stdout = String::from_utf8_lossy(&stdout.bytes()).into_owned();
    if ended.outcome == Outcome::Exited(0) {
        return CallToolResult::success(vec![ContentBlock::text(stdout)]);
    }
    let mut reason = match &ended.outcome {
        Outcome::Exited(code) => vec![format!("the task exited with code {code}")],
        _ => ended.reason.clone(),
    };
    reason.push(format!("run {}", ended.run));
    let mut content = vec![ContentBlock::text(reason.join("\n"))];
    let stderr = String::from_utf8_lossy(&stderr.bytes()).into_owned();
    if !stderr.is_empty() {
        content.push(ContentBlock::text(format!("stderr:\n{stderr}")));
    }
    if !stdout.is_empty() {
        content.push(ContentBlock::text(stdout));
    }
    CallToolResult::error(content)
}
