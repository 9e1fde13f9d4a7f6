//! `runner mcp`: the tasks of `[tools.NAME]` served as Model Context
//! Protocol tools over stdio, with the official SDK (`rmcp`).
//!
//! Guarantees:
//! - The server offers exactly two things: `tools/list` and `tools/call` of
//!   the tools in tasks.toml. There is no tool, resource or prompt that
//!   changes a grant, a secret or the policy: a model can only run what the
//!   operator declared, as the agent the operator chose.
//! - tasks.toml is read again for every request, so a listing and a call
//!   see the file as it is now; a tool is listed, and may be called, only
//!   while its component may run as its agent (the pin check of `exec`); a
//!   code tool (`kind = "python"` / `"javascript"`, `code.rs`) only while
//!   its agent takes any script and its language's interpreter is installed
//!   (and pinned, when the agent pins). At start, each tool that may not run
//!   is named on stderr with the reason and a hint.
//! - A call runs through the exec operation ([`crate::exec::run`]) like
//!   `runner exec`: the same checks, limits and audit records, plus a
//!   `tool.call` record naming the tool and the client; a call that does not
//!   run (unknown tool, unavailable tool, bad input, refused run) leaves a
//!   `tool.refused` record instead (`refusal.rs`). The task's stdout
//!   and stderr are captured (they never reach the protocol channel) and
//!   are already redacted of every value released in the run.
//! - Every failure is an answer, never a crash: bad arguments and unknown
//!   or unavailable tools are protocol errors (`-32602`), a task that fails
//!   (non-zero exit, trap, limit) is a tool result with `isError`.
//!
//! A component task gets its arguments as one JSON object on stdin; a code
//! tool's code runs as a script with `args` as its arguments (docs/mcp.md).

mod call;
mod code;
mod input;
mod refusal;

use std::path::PathBuf;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ErrorData, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool as McpTool,
};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, ServiceExt};

use crate::policy::{Policy, Tool};

pub use input::{BadInput, MAX_ARGUMENTS_BYTES};

/// Longest JSON-RPC message read from the client, in bytes: a longer line
/// is dropped by the transport (it cannot be answered: its id is unread).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Where the server finds its policy and state dir.
#[derive(Debug, Clone)]
pub struct Setup {
    pub config: PathBuf,
    /// `--home`, if given; else the usual lookup at each call.
    pub home: Option<PathBuf>,
    /// `--database-url`, if given.
    pub database_url: Option<crate::cli::DatabaseUrl>,
}

/// The MCP server of one `runner mcp` process.
#[derive(Debug, Clone)]
pub struct Server {
    setup: Setup,
}

/// Serves MCP on stdin/stdout until the client closes the connection.
pub fn serve_stdio(setup: Setup) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let transport = rmcp::transport::async_rw::AsyncRwTransport::new_server(
            tokio::io::stdin(),
            tokio::io::stdout(),
        )
        .with_max_line_length(MAX_MESSAGE_BYTES);
        let server = Server { setup };
        server.warn_unavailable();
        let service = server.serve(transport).await?;
        service.waiting().await?;
        anyhow::Ok(())
    })
}

impl Setup {
    /// The policy as the file holds it now.
    fn policy(&self) -> Result<Policy, ErrorData> {
        Policy::load_trusted(&self.config).map_err(|error| {
            let hint = error
                .hint()
                .map(|h| format!("; hint: {h}"))
                .unwrap_or_default();
            ErrorData::internal_error(format!("cannot load tasks.toml: {error}{hint}"), None)
        })
    }
}

impl Server {
    /// The tools that may run now, as MCP tools.
    fn listed(&self, policy: &Policy) -> Vec<McpTool> {
        let home = self.setup.home.as_deref();
        policy
            .tools()
            .filter(|tool| call::runnable(policy, tool, home).is_ok())
            .map(mcp_tool)
            .collect()
    }

    /// Names each tool that is not listed, and why, for the operator.
    fn warn_unavailable(&self) {
        let Ok(policy) = self.setup.policy() else {
            return;
        };
        for tool in policy.tools() {
            let Err(error) = call::runnable(&policy, tool, self.setup.home.as_deref()) else {
                continue;
            };
            eprintln!(
                "scopehold: mcp: tool {} is not listed: {error:#}",
                tool.name
            );
            if let Some(hint) = crate::report::hint_for(&error) {
                eprintln!("scopehold: hint: {hint}");
            }
        }
    }
}

fn mcp_tool(tool: &Tool) -> McpTool {
    McpTool::new(
        tool.name.to_string(),
        tool.description.clone(),
        input::schema(tool),
    )
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        let version = env!("CARGO_PKG_VERSION");
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("scopehold", version))
            .with_instructions(
                "Each tool runs a sandboxed task as an agent of the operator's choosing. \
                 Keys are used by the task or injected by the runner; they are never shown.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let server = self.clone();
        let listed = tokio::task::spawn_blocking(move || {
            let policy = server.setup.policy()?;
            Ok(server.listed(&policy))
        });
        let listed = listed.await.map_err(|error| {
            ErrorData::internal_error(format!("the listing failed: {error}"), None)
        })?;
        Ok(ListToolsResult::with_all_items(listed?))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let client = context
            .peer
            .peer_info()
            .map(|info| info.client_info.clone());
        let setup = self.setup.clone();
        let result = tokio::task::spawn_blocking(move || call::answer(&setup, &request, client))
            .await
            .map_err(|error| {
                ErrorData::internal_error(format!("the call failed: {error}"), None)
            })?;
        result.map(CallToolResponse::from)
    }
}
