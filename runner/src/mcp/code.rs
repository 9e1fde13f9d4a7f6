//! Code tools (`kind = "python"` / `"javascript"`): their fixed input
//! `{ "code": string, "args": [string] }`, checked, and what may run them.
//!
//! Guarantees: [`check`] accepts exactly an object with a `code` string of
//! at most [`MAX_SCRIPT_BYTES`] and an optional `args` array of strings
//! (at most [`MAX_ARGUMENTS_BYTES`] as JSON), nothing else; [`allowed`]
//! admits a code tool only when its agent takes any script (`scripts =
//! "any"`): the code is written by the model at call time, so no digest
//! could have been pinned for it, and pinning a model's exact output would
//! only make the tool fail.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::input::{BadInput, MAX_ARGUMENTS_BYTES, type_of};
use crate::policy::{Agent, ScriptPolicy, Tool};
use crate::script::MAX_SCRIPT_BYTES;

/// A code tool's call, checked.
#[derive(Debug, PartialEq, Eq)]
pub struct Code {
    pub code: String,
    pub args: Vec<String>,
}

/// The JSON Schema of every code tool's input.
pub fn schema() -> Arc<Map<String, Value>> {
    let schema = json!({
        "type": "object",
        "properties": {
            "code": { "type": "string", "description": "the script to run" },
            "args": {
                "type": "array",
                "items": { "type": "string" },
                "description": "the script's arguments (sys.argv[1:] / process.argv)",
            },
        },
        "required": ["code"],
        "additionalProperties": false,
    });
    match schema {
        Value::Object(map) => Arc::new(map),
        _ => Arc::default(),
    }
}

/// Checks a code tool's arguments (absent means none: `code` is missing).
pub fn check(tool: &Tool, arguments: Option<&Map<String, Value>>) -> Result<Code, BadInput> {
    let empty = Map::new();
    let arguments = arguments.unwrap_or(&empty);
    if let Some(name) = arguments.keys().find(|k| *k != "code" && *k != "args") {
        return Err(BadInput::Unknown {
            tool: tool.name.to_string(),
            name: super::input::clipped(name),
            known: "code, args".into(),
        });
    }
    let code = match arguments.get("code") {
        None => {
            return Err(BadInput::Missing {
                name: "code".into(),
            });
        }
        Some(Value::String(code)) => code,
        Some(other) => return Err(wrong("code", "string", other)),
    };
    if code.len() as u64 > MAX_SCRIPT_BYTES {
        let (size, limit) = (code.len(), MAX_SCRIPT_BYTES as usize);
        return Err(BadInput::TooLarge { size, limit });
    }
    let args = match arguments.get("args") {
        None => Vec::new(),
        Some(Value::Array(items)) => strings(items)?,
        Some(other) => return Err(wrong("args", "array", other)),
    };
    Ok(Code {
        code: code.clone(),
        args,
    })
}

fn strings(items: &[Value]) -> Result<Vec<String>, BadInput> {
    let size = serde_json::to_vec(items).map_or(usize::MAX, |json| json.len());
    if size > MAX_ARGUMENTS_BYTES {
        let limit = MAX_ARGUMENTS_BYTES;
        return Err(BadInput::TooLarge { size, limit });
    }
    let mut args = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match item {
            Value::String(arg) => args.push(arg.clone()),
            other => return Err(wrong(&format!("args[{index}]"), "string", other)),
        }
    }
    Ok(args)
}

fn wrong(name: &str, expected: &'static str, found: &Value) -> BadInput {
    BadInput::WrongType {
        name: name.to_owned(),
        expected,
        found: type_of(found),
    }
}

/// Refuses a code tool whose agent does not take any script.
pub fn allowed(tool: &Tool, agent: &Agent) -> Result<(), crate::report::Refused> {
    if agent.confinement.scripts == ScriptPolicy::Any {
        return Ok(());
    }
    let (kind, name) = (tool.kind.key(), &agent.name);
    Err(crate::report::Refused {
        message: format!(
            "tool {} runs {kind} code the model writes, and agent {name} does not take any \
             script",
            tool.name
        ),
        hint: Some(format!(
            "a code tool's agent needs scripts = \"any\" in [agents.{name}] of tasks.toml \
             (pinned script digests cannot match code written at call time; docs/mcp.md)"
        )),
    })
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
            [tools.run-python]
            kind = "python"
            agent = "a"
            description = "runs python"
        "#;
        let policy = Policy::parse(source, std::path::Path::new("tasks.toml")).unwrap();
        policy.tool("run-python").unwrap().clone()
    }

    fn args(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn accepts_code_with_and_without_string_arguments() {
        let code = check(&tool(), Some(&args(json!({"code": "print(1)"})))).unwrap();
        assert_eq!(code.code, "print(1)");
        assert!(code.args.is_empty());
        let with = check(
            &tool(),
            Some(&args(json!({"code": "x", "args": ["a", "b"]}))),
        );
        assert_eq!(with.unwrap().args, ["a", "b"]);
    }

    #[test]
    fn refuses_missing_code_wrong_types_unknown_keys_and_huge_code() {
        assert!(matches!(
            check(&tool(), None),
            Err(BadInput::Missing { .. })
        ));
        let number = check(&tool(), Some(&args(json!({"code": 5}))));
        assert!(matches!(number, Err(BadInput::WrongType { .. })));
        let arg = check(&tool(), Some(&args(json!({"code": "x", "args": ["a", 1]}))));
        let Err(BadInput::WrongType { name, .. }) = arg else {
            panic!("a number among the args was accepted")
        };
        assert_eq!(name, "args[1]");
        let flat = check(&tool(), Some(&args(json!({"code": "x", "args": "a"}))));
        assert!(matches!(flat, Err(BadInput::WrongType { .. })));
        let extra = check(&tool(), Some(&args(json!({"code": "x", "env": {}}))));
        assert!(matches!(extra, Err(BadInput::Unknown { .. })));
        let huge = "#".repeat(MAX_SCRIPT_BYTES as usize + 1);
        let huge = check(&tool(), Some(&args(json!({ "code": huge }))));
        assert!(matches!(huge, Err(BadInput::TooLarge { .. })));
    }

    #[test]
    fn the_schema_requires_code_and_takes_string_args() {
        let schema = Value::Object((*schema()).clone());
        assert_eq!(schema["required"], json!(["code"]));
        assert_eq!(schema["properties"]["args"]["items"]["type"], "string");
        assert_eq!(schema["additionalProperties"], false);
    }
}
