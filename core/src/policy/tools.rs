//! `[tools.NAME]`: tasks served as MCP tools by `runner mcp`.
//!
//! Guarantees: a loaded [`Tool`] names an agent of the policy, has a kind
//! ([`ToolKind`]) with what that kind needs, and an input of typed, named
//! arguments ([`Arg`]). Whether the tool may actually run (its component
//! pinned to its agent; for a code tool, an agent with `scripts = "any"` and
//! an installed interpreter) is decided when it is listed or called, against
//! the files as they are at that time, not here.
//!
//! The input of a component tool is a simple argument list, not a free JSON
//! Schema: every argument has a name, one of four JSON types and a required
//! flag, so a call's arguments are checked exactly (`runner`'s mcp module
//! builds the JSON Schema shown to clients from it). A code tool
//! (`kind = "python"` / `"javascript"`) has a fixed input, the code and its
//! arguments, so it declares neither `component`, `args` nor `input`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::confinement;
use super::error::{PolicyError, Problem};
use super::schema::{Agents, Context, in_file_order};
use crate::names::{AgentName, ArgName, ToolName};

/// Longest tool description, in bytes (it is sent to every client).
pub const MAX_DESCRIPTION_BYTES: usize = 4096;
/// Most arguments a tool may declare.
pub const MAX_ARGS: usize = 32;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTool {
    kind: Option<Spanned<String>>,
    component: Option<Spanned<String>>,
    agent: Spanned<String>,
    description: Spanned<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    input: BTreeMap<Spanned<String>, RawArg>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawArg {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    description: Option<String>,
    #[serde(default = "yes")]
    required: bool,
}

fn yes() -> bool {
    true
}

/// A `[tools.NAME]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    pub name: ToolName,
    pub kind: ToolKind,
    /// Always one of the policy's agents.
    pub agent: AgentName,
    pub description: String,
    /// Fixed arguments after argv[0], before nothing: a call's own
    /// arguments go to stdin as JSON.
    pub args: Vec<String>,
    /// The arguments a call takes, in file order.
    pub input: Vec<Arg>,
}

/// What runs when the tool is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolKind {
    /// A WebAssembly component (`component = "PATH"`, relative to the
    /// directory holding tasks.toml).
    Component { path: std::path::PathBuf },
    /// Code the caller sends, run as a script of `language` in its
    /// interpreter (`kind = "python"` or `"javascript"`).
    Code { language: Language },
}

impl ToolKind {
    /// The `kind` value that selects this kind.
    pub fn key(&self) -> &'static str {
        match self {
            ToolKind::Component { .. } => "component",
            ToolKind::Code { language } => language.as_str(),
        }
    }
}

/// A script language: of a script file (by its extension) or of a code
/// tool (by its `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `.py`, `kind = "python"`
    Python,
    /// `.js`, `.mjs`, `kind = "javascript"`
    JavaScript,
}

impl Language {
    const ALL: [Language; 2] = [Language::Python, Language::JavaScript];

    /// The language of a script file, by extension; `None` for anything
    /// else (a component).
    pub fn of(path: &std::path::Path) -> Option<Language> {
        match path.extension()?.to_str()? {
            "py" => Some(Language::Python),
            "js" | "mjs" => Some(Language::JavaScript),
            _ => None,
        }
    }

    /// Its name, as a tool's `kind` and an interpreter's file name use it.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::JavaScript => "javascript",
        }
    }

    /// The file extension of a script in this language.
    pub fn extension(self) -> &'static str {
        match self {
            Language::Python => "py",
            Language::JavaScript => "js",
        }
    }
}

/// One argument of a tool's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    pub name: ArgName,
    pub kind: ArgType,
    pub description: Option<String>,
    pub required: bool,
}

/// The JSON type an argument's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    String,
    Integer,
    Number,
    Boolean,
}

impl ArgType {
    const ALL: [ArgType; 4] = [
        ArgType::String,
        ArgType::Integer,
        ArgType::Number,
        ArgType::Boolean,
    ];

    /// The JSON Schema `type` name.
    pub fn key(self) -> &'static str {
        match self {
            ArgType::String => "string",
            ArgType::Integer => "integer",
            ArgType::Number => "number",
            ArgType::Boolean => "boolean",
        }
    }

    /// Whether `value` has this type (an integer is also a number).
    pub fn admits(self, value: &serde_json::Value) -> bool {
        match self {
            ArgType::String => value.is_string(),
            ArgType::Integer => value.is_i64() || value.is_u64(),
            ArgType::Number => value.is_number(),
            ArgType::Boolean => value.is_boolean(),
        }
    }
}

pub(super) type Tools = BTreeMap<ToolName, Tool>;

/// A code tool: its input is fixed (the code and its arguments), so a
/// component, fixed arguments or declared inputs are mistakes to point out.
fn code_kind(
    raw: &RawTool,
    language: Language,
    at: std::ops::Range<usize>,
    bad: &dyn Fn(std::ops::Range<usize>, String) -> PolicyError,
) -> Result<ToolKind, PolicyError> {
    let kind = language.as_str();
    if let Some(component) = &raw.component {
        let reason = format!("a {kind} tool runs the code it is sent: remove component");
        return Err(bad(component.span(), reason));
    }
    if !raw.args.is_empty() || !raw.input.is_empty() {
        let reason =
            format!("a {kind} tool's input is fixed ({{ code, args }}): remove args and input");
        return Err(bad(at, reason));
    }
    Ok(ToolKind::Code { language })
}

impl Context<'_> {
    /// Validates the `[tools]` tables, in file order.
    pub(super) fn tools(
        &self,
        raw: BTreeMap<Spanned<String>, RawTool>,
        agents: &Agents,
    ) -> Result<Tools, PolicyError> {
        let mut tools = Tools::new();
        for (name, tool) in in_file_order(raw) {
            let span = name.span();
            let name = self.name(&name, ToolName::new)?;
            let tool = self.tool((name, span), tool, agents)?;
            tools.insert(tool.name.clone(), tool);
        }
        Ok(tools)
    }

    fn tool(
        &self,
        (name, span): (ToolName, std::ops::Range<usize>),
        raw: RawTool,
        agents: &Agents,
    ) -> Result<Tool, PolicyError> {
        let bad = |span, reason: String| {
            let problem = Problem::BadTool {
                tool: name.clone(),
                reason,
            };
            self.error(span, problem)
        };
        let agent = self.name(&raw.agent, AgentName::new)?;
        if !agents.contains_key(&agent) {
            let known: Vec<String> = agents.keys().map(ToString::to_string).collect();
            let reason = format!(
                "agent \"{agent}\" is not defined in [agents] (agents: {})",
                known.join(", ")
            );
            return Err(bad(raw.agent.span(), reason));
        }
        let kind = self.tool_kind(&raw, span, &bad)?;
        let description = raw.description.get_ref();
        if description.trim().is_empty() || description.len() > MAX_DESCRIPTION_BYTES {
            let reason = format!(
                "description must be 1 to {MAX_DESCRIPTION_BYTES} bytes of text: the model \
                 reads it to decide when to call the tool"
            );
            return Err(bad(raw.description.span(), reason));
        }
        let input = self.args(raw.input, &bad)?;
        Ok(Tool {
            name,
            kind,
            agent,
            description: raw.description.into_inner(),
            args: raw.args,
            input,
        })
    }

    /// The tool's kind; `at` is the tool's name, where a missing key is
    /// reported.
    fn tool_kind(
        &self,
        raw: &RawTool,
        at: std::ops::Range<usize>,
        bad: &dyn Fn(std::ops::Range<usize>, String) -> PolicyError,
    ) -> Result<ToolKind, PolicyError> {
        if let Some(kind) = &raw.kind
            && kind.get_ref() != "component"
        {
            let language = Language::ALL
                .into_iter()
                .find(|l| l.as_str() == kind.get_ref())
                .ok_or_else(|| {
                    let reason = format!(
                        "kind {:?} is not a tool kind; use \"component\", \"python\" or \
                         \"javascript\"",
                        kind.get_ref()
                    );
                    bad(kind.span(), reason)
                })?;
            return code_kind(raw, language, at, bad);
        }
        let Some(component) = &raw.component else {
            let problem = Problem::MissingKey {
                key: "component".into(),
            };
            return Err(self.error(at, problem));
        };
        let path = confinement::host_path(component.get_ref(), self.path)
            .map_err(|reason| bad(component.span(), reason))?;
        Ok(ToolKind::Component { path })
    }

    fn args(
        &self,
        raw: BTreeMap<Spanned<String>, RawArg>,
        bad: &dyn Fn(std::ops::Range<usize>, String) -> PolicyError,
    ) -> Result<Vec<Arg>, PolicyError> {
        if raw.len() > MAX_ARGS {
            let span = raw.keys().next().map(Spanned::span).unwrap_or(0..0);
            return Err(bad(span, format!("more than {MAX_ARGS} input arguments")));
        }
        let mut args = Vec::with_capacity(raw.len());
        for (name, arg) in in_file_order(raw) {
            let name = self.name(&name, ArgName::new)?;
            let kind = ArgType::ALL
                .into_iter()
                .find(|kind| kind.key() == arg.kind.get_ref())
                .ok_or_else(|| {
                    let reason = format!(
                        "input {name}: type {:?} is not one of \"string\", \"integer\", \
                         \"number\", \"boolean\"",
                        arg.kind.get_ref()
                    );
                    bad(arg.kind.span(), reason)
                })?;
            let (description, required) = (arg.description, arg.required);
            args.push(Arg {
                name,
                kind,
                description,
                required,
            });
        }
        Ok(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    const CODE_TOOLS: &str = r#"
        [projects.p]
        [agents.a]
        project = "p"
        scripts = "any"
        [tools.py]
        kind = "python"
        agent = "a"
        description = "runs python"
        [tools.js]
        kind = "javascript"
        agent = "a"
        description = "runs javascript"
    "#;

    #[test]
    fn the_extension_names_the_language() {
        assert_eq!(
            Language::of(std::path::Path::new("a/fix.py")),
            Some(Language::Python)
        );
        assert_eq!(
            Language::of(std::path::Path::new("x.mjs")),
            Some(Language::JavaScript)
        );
        assert_eq!(
            Language::of(std::path::Path::new("x.js")),
            Some(Language::JavaScript)
        );
        for other in ["task.wasm", "py", "x.PY", "x.pyc", "noext"] {
            assert_eq!(Language::of(std::path::Path::new(other)), None, "{other}");
        }
    }

    #[test]
    fn code_tools_load_with_their_language_and_no_input() {
        let policy = Policy::parse(CODE_TOOLS, std::path::Path::new("tasks.toml")).unwrap();
        let py = policy.tool("py").unwrap();
        assert_eq!(
            py.kind,
            ToolKind::Code {
                language: Language::Python
            }
        );
        assert_eq!(py.kind.key(), "python");
        assert!(py.input.is_empty() && py.args.is_empty());
        let js = &policy.tool("js").unwrap().kind;
        assert_eq!(js.key(), "javascript");
    }

    #[test]
    fn a_code_tool_with_fixed_args_or_inputs_is_refused() {
        for extra in ["args = [\"x\"]", "[tools.py.input.q]\ntype = \"string\""] {
            let source = CODE_TOOLS.replace(
                "description = \"runs python\"",
                &format!("description = \"runs python\"\n{extra}"),
            );
            let error = Policy::parse(&source, std::path::Path::new("tasks.toml"))
                .err()
                .unwrap();
            assert!(error.to_string().contains("input is fixed"), "{error}");
        }
    }
}
