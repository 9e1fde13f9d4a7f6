//! A tool's input: the JSON Schema clients see, and the check of a call's
//! arguments against the tool's declared argument list (a code tool's
//! fixed input: `code.rs`).
//!
//! Guarantees: [`check`] accepts exactly an object whose every key is a
//! declared argument with a value of its type, that holds every required
//! argument, and whose JSON is at most [`MAX_ARGUMENTS_BYTES`]; anything
//! else is a [`BadInput`] naming the argument at fault (never echoing a
//! value, which could be long or hostile).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::code::{self, Code};
use crate::policy::{Arg, Language, Tool, ToolKind};

/// Largest accepted arguments object, as compact JSON, in bytes.
pub const MAX_ARGUMENTS_BYTES: usize = 64 * 1024;

/// Why a call's arguments were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadInput {
    #[error("the arguments are {size} bytes; at most {limit} are accepted")]
    TooLarge { size: usize, limit: usize },
    #[error("argument {name:?} is not an input of tool {tool} (its inputs: {known})")]
    Unknown {
        tool: String,
        name: String,
        known: String,
    },
    #[error("argument {name:?} must be of type {expected}, not {found}")]
    WrongType {
        name: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("argument {name:?} is required")]
    Missing { name: String },
}

/// What a checked call runs.
pub(super) enum Input {
    /// A component tool: its file, and the arguments as JSON for its stdin.
    Component {
        path: std::path::PathBuf,
        json: Vec<u8>,
    },
    /// A code tool: the code to run as a script of `language`.
    Code { language: Language, code: Code },
}

/// Checks `arguments` against `tool`'s input, whatever its kind.
pub(super) fn checked(
    tool: &Tool,
    arguments: Option<&Map<String, Value>>,
) -> Result<Input, BadInput> {
    Ok(match &tool.kind {
        ToolKind::Component { path } => Input::Component {
            path: path.clone(),
            json: check(tool, arguments)?,
        },
        ToolKind::Code { language } => Input::Code {
            language: *language,
            code: code::check(tool, arguments)?,
        },
    })
}

/// The JSON Schema of `tool`'s input, as `tools/list` shows it.
pub fn schema(tool: &Tool) -> Arc<Map<String, Value>> {
    if let ToolKind::Code { .. } = tool.kind {
        return code::schema();
    }
    let properties: Map<String, Value> = tool
        .input
        .iter()
        .map(|arg| (arg.name.to_string(), property(arg)))
        .collect();
    let required: Vec<&str> = tool
        .input
        .iter()
        .filter(|arg| arg.required)
        .map(|arg| arg.name.as_str())
        .collect();
    let schema = json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    });
    match schema {
        Value::Object(map) => Arc::new(map),
        _ => Arc::default(),
    }
}

fn property(arg: &Arg) -> Value {
    let mut property = json!({ "type": arg.kind.key() });
    if let (Some(description), Value::Object(map)) = (&arg.description, &mut property) {
        map.insert("description".into(), description.clone().into());
    }
    property
}

/// Checks `arguments` (absent means none) against `tool`'s input; returns
/// the JSON the task reads on stdin.
pub fn check(tool: &Tool, arguments: Option<&Map<String, Value>>) -> Result<Vec<u8>, BadInput> {
    let empty = Map::new();
    let arguments = arguments.unwrap_or(&empty);
    let text = serde_json::to_vec(arguments).unwrap_or_default();
    if text.len() > MAX_ARGUMENTS_BYTES {
        let (size, limit) = (text.len(), MAX_ARGUMENTS_BYTES);
        return Err(BadInput::TooLarge { size, limit });
    }
    for (name, value) in arguments {
        let Some(arg) = tool.input.iter().find(|arg| arg.name.as_str() == name) else {
            return Err(BadInput::Unknown {
                tool: tool.name.to_string(),
                name: clipped(name),
                known: known(tool),
            });
        };
        if !arg.kind.admits(value) {
            return Err(BadInput::WrongType {
                name: name.clone(),
                expected: arg.kind.key(),
                found: type_of(value),
            });
        }
    }
    if let Some(missing) = tool
        .input
        .iter()
        .find(|arg| arg.required && !arguments.contains_key(arg.name.as_str()))
    {
        return Err(BadInput::Missing {
            name: missing.name.to_string(),
        });
    }
    Ok(text)
}

fn known(tool: &Tool) -> String {
    if tool.input.is_empty() {
        return "none".into();
    }
    let names: Vec<&str> = tool.input.iter().map(|arg| arg.name.as_str()).collect();
    names.join(", ")
}

/// A name the client sent, as shown back: at most 64 characters.
pub(super) fn clipped(name: &str) -> String {
    match name.char_indices().nth(64) {
        Some((end, _)) => format!("{}...", &name[..end]),
        None => name.to_owned(),
    }
}

pub(super) fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn tool() -> Tool {
        let source = r#"
            [projects.p]
            [agents.a]
            project = "p"
            [tools.t]
            component = "t.wasm"
            agent = "a"
            description = "test tool"
            [tools.t.input.query]
            type = "string"
            description = "what to ask"
            [tools.t.input.limit]
            type = "integer"
            required = false
        "#;
        let policy = Policy::parse(source, std::path::Path::new("tasks.toml")).unwrap();
        policy.tool("t").unwrap().clone()
    }

    fn args(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn schema_lists_types_and_required_arguments() {
        let schema = Value::Object((*schema(&tool())).clone());
        assert_eq!(schema["properties"]["query"]["type"], "string");
        assert_eq!(schema["properties"]["query"]["description"], "what to ask");
        assert_eq!(schema["properties"]["limit"]["type"], "integer");
        assert_eq!(schema["required"], json!(["query"]));
        assert_eq!(schema["additionalProperties"], false);
    }

    #[test]
    fn accepts_declared_arguments_of_their_types() {
        let ok = check(&tool(), Some(&args(json!({"query": "x", "limit": 3}))));
        let sent: Value = serde_json::from_slice(&ok.unwrap()).unwrap();
        assert_eq!(sent, json!({"query": "x", "limit": 3}));
        assert!(check(&tool(), Some(&args(json!({"query": "x"})))).is_ok());
    }

    #[test]
    fn refuses_wrong_types_missing_unknown_and_huge_arguments() {
        let wrong = check(&tool(), Some(&args(json!({"query": 5}))));
        assert!(matches!(
            wrong,
            Err(BadInput::WrongType {
                found: "integer",
                ..
            })
        ));
        let float = check(&tool(), Some(&args(json!({"query": "x", "limit": 1.5}))));
        assert!(matches!(
            float,
            Err(BadInput::WrongType {
                found: "number",
                ..
            })
        ));
        let missing = check(&tool(), None);
        assert_eq!(
            missing,
            Err(BadInput::Missing {
                name: "query".into()
            })
        );
        let unknown = check(&tool(), Some(&args(json!({"query": "x", "rm": true}))));
        assert!(matches!(unknown, Err(BadInput::Unknown { .. })));
        let huge = "x".repeat(MAX_ARGUMENTS_BYTES);
        let huge = check(&tool(), Some(&args(json!({"query": huge}))));
        assert!(matches!(huge, Err(BadInput::TooLarge { .. })));
    }
}
