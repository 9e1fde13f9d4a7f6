//! One `tools/call`: find the tool, check that it may run and that its
//! arguments fit, run it through the exec operation, and turn how it ended
//! into the call's result. A call that does not run is answered with an
//! error and recorded as `tool.refused` (`refusal.rs`).

use std::path::Path;

use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock, ErrorData, Implementation};

use super::input::{self, Input};
use super::refusal::{Reason, Refusal};
use super::{Setup, code};
use crate::exec::{Ended, Request, TaskSource, ToolCaller};
use crate::policy::{ComponentDigest, Policy, Tool, ToolKind};
use crate::sandbox::{Outcome, TaskIo};
use crate::script::Interpreter;

/// Answers one call; blocking (call it off the async runtime).
pub(super) fn answer(
    setup: &Setup,
    request: &CallToolRequestParams,
    client: Option<Implementation>,
) -> Result<CallToolResult, ErrorData> {
    let client = client.unwrap_or_else(|| Implementation::new("unknown", ""));
    let caller = ToolCaller {
        tool: request.name.to_string(),
        client: client.name,
        client_version: client.version,
    };
    let policy = setup.policy().map_err(|error| {
        let agent = String::new();
        let refusal = Refusal {
            reason: Reason::BadPolicy,
            agent,
            error,
        };
        refusal.record(setup, &caller)
    })?;
    match Call::new(&policy, setup, request) {
        Ok(call) => call.run(setup, &policy, caller),
        Err(refusal) => Err(refusal.record(setup, &caller)),
    }
}

/// A call that passed every check and is ready to run.
struct Call {
    tool: Tool,
    input: Input,
}

impl Call {
    /// Checks the call against the policy; an unknown tool, a tool that may
    /// not run and bad arguments are errors of the request (`-32602`).
    fn new(
        policy: &Policy,
        setup: &Setup,
        request: &CallToolRequestParams,
    ) -> Result<Call, Refusal> {
        let name = request.name.as_ref();
        let Some(tool) = policy.tool(name) else {
            // A name of any length and content: shown clipped, escaped.
            let shown = input::clipped(name);
            eprintln!("scopehold: mcp: a call of unknown tool {shown:?} was refused");
            let message = format!("unknown tool {shown:?}; tools/list shows the tools there are");
            return Err(refusal(Reason::UnknownTool, None, message));
        };
        if let Err(error) = runnable(policy, tool, setup.home.as_deref()) {
            eprintln!("scopehold: mcp: tool {name} may not run: {error:#}");
            let hint = crate::report::hint_for(&error)
                .map(|hint| format!(" (hint for the operator: {hint})"))
                .unwrap_or_default();
            let message = format!("tool {name} is not available: {error:#}{hint}");
            return Err(refusal(Reason::Unavailable, Some(tool), message));
        }
        let input = input::checked(tool, request.arguments.as_ref()).map_err(|error| {
            refusal(
                Reason::BadInput,
                Some(tool),
                format!("tool {name}: {error}"),
            )
        })?;
        Ok(Call {
            tool: tool.clone(),
            input,
        })
    }

    /// Runs the tool's task.
    fn run(
        self,
        setup: &Setup,
        policy: &Policy,
        caller: ToolCaller,
    ) -> Result<CallToolResult, ErrorData> {
        let script_name;
        let (task, args, stdin) = match &self.input {
            Input::Component { path, json } => {
                (TaskSource::File(path), &self.tool.args[..], json.clone())
            }
            Input::Code { language, code } => {
                script_name = format!("{}.{}", self.tool.name, language.extension());
                let text = code.code.as_bytes();
                let (language, name) = (*language, script_name.as_str());
                let task = TaskSource::Script {
                    language,
                    name,
                    text,
                };
                (task, &code.args[..], Vec::new())
            }
        };
        let ended = crate::exec::run(Request {
            policy,
            home: setup.home.as_deref(),
            database_url: setup
                .database_url
                .as_ref()
                .map(crate::cli::DatabaseUrl::secret),
            agent: self.tool.agent.as_str(),
            task,
            args,
            io: TaskIo::capture(stdin),
            watch_signals: false,
            tool: Some(caller.clone()),
            summary: None,
            served: None,
        });
        ended.map(|ended| result(&ended)).map_err(|error| {
            eprintln!("scopehold: mcp: tool {} failed: {error:#}", self.tool.name);
            not_run(&self.tool, &error).record(setup, &caller)
        })
    }
}

fn refusal(reason: Reason, tool: Option<&Tool>, message: String) -> Refusal {
    Refusal {
        reason,
        agent: tool.map(|t| t.agent.to_string()).unwrap_or_default(),
        error: ErrorData::invalid_params(message, None),
    }
}

/// A run the exec operation refused, or the runner failed.
fn not_run(tool: &Tool, error: &anyhow::Error) -> Refusal {
    let hint = crate::report::hint_for(error)
        .map(|hint| format!("; hint: {hint}"))
        .unwrap_or_default();
    let message = format!("the runner could not run the task: {error:#}{hint}");
    let refused = crate::report::exec_exit_code(error) == crate::exit_code::REFUSED;
    Refusal {
        reason: if refused {
            Reason::NotStarted
        } else {
            Reason::Failed
        },
        agent: tool.agent.to_string(),
        error: ErrorData::internal_error(message, None),
    }
}

/// Whether `tool` may run now: its component (for a code tool, its
/// language's interpreter, under an agent that takes any script) is
/// readable, is a component, and is one its agent may run (the pin check of
/// `runner exec`).
pub(super) fn runnable(policy: &Policy, tool: &Tool, home: Option<&Path>) -> anyhow::Result<()> {
    let agent = policy.agent(tool.agent.as_str())?;
    let wasm = match &tool.kind {
        ToolKind::Component { path } => crate::task_file::read(path)?,
        ToolKind::Code { language } => {
            code::allowed(tool, agent)?;
            let home = crate::home::locate(home)?;
            // Nothing pinned, nothing to compare: the interpreter's header
            // will do (the run reads and hashes all of it once, in exec).
            if agent.confinement.components.is_empty() {
                return Ok(Interpreter::check(&home, *language)?);
            }
            Interpreter::load(&home, *language)?.wasm
        }
    };
    crate::exec::check_pinned(agent, &ComponentDigest::of(&wasm))
}

/// The call's result: the task's stdout; when the task did not exit 0,
/// `isError` with the runner's reason and the task's stderr (a script's
/// traceback).
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
