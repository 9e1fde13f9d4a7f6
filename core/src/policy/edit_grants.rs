//! An agent's `grants` list as toml_edit sees it, edited the way a person
//! would: entries appended in the list's own layout (one per line, or all
//! on one line), a comment after an entry kept on that entry's line when
//! another entry is appended or removed. Used by `edit.rs`.

use toml_edit::{Array, InlineTable, Item, TableLike, Value};

use super::edit::EditError;
use crate::names::SecretName;

/// An agent's `grants`: an array of inline tables (the usual spelling) or
/// `[[agents.NAME.grants]]` tables.
pub(super) enum Grants<'d> {
    Inline(&'d mut Array),
    Tables(&'d mut toml_edit::ArrayOfTables),
}

pub(super) fn grants_of(table: &mut dyn TableLike) -> Result<Grants<'_>, EditError> {
    let shape = || EditError::Shape("`grants` is neither a list nor [[grants]] tables".into());
    match table.get_mut("grants").ok_or_else(shape)? {
        Item::Value(Value::Array(list)) => Ok(Grants::Inline(list)),
        Item::ArrayOfTables(tables) => Ok(Grants::Tables(tables)),
        _ => Err(shape()),
    }
}

impl Grants<'_> {
    /// Index of the grant of `secret` (written plain or `project/secret`).
    pub(super) fn position(&self, secret: &SecretName) -> Option<usize> {
        let names = |t: &dyn TableLike| t.get("secret").and_then(Item::as_str).map(str::to_owned);
        let all: Vec<Option<String>> = match self {
            Grants::Inline(list) => list
                .iter()
                .map(|v| v.as_inline_table().and_then(|t| names(t)))
                .collect(),
            Grants::Tables(tables) => tables.iter().map(|t| names(t)).collect(),
        };
        all.iter().position(|name| {
            name.as_deref().is_some_and(|n| {
                n == secret.as_str() || n.split_once('/').is_some_and(|(_, s)| s == secret.as_str())
            })
        })
    }

    /// A copy of the grant at `position`, as an inline table.
    pub(super) fn existing(&self, position: Option<usize>) -> Option<InlineTable> {
        let index = position?;
        match self {
            Grants::Inline(list) => list.get(index)?.as_inline_table().cloned(),
            Grants::Tables(tables) => Some(tables.get(index)?.clone().into_inline_table()),
        }
    }

    /// Replaces the grant at `position`, or appends `entry` in the list's style.
    pub(super) fn put(self, position: Option<usize>, entry: InlineTable) {
        match (self, position) {
            (Grants::Inline(list), Some(i)) => {
                let decor = list.get(i).map(|v| v.decor().clone());
                list.replace(i, entry);
                if let (Some(decor), Some(value)) = (decor, list.get_mut(i)) {
                    *value.decor_mut() = decor;
                }
            }
            (Grants::Inline(list), None) => append(list, entry),
            (Grants::Tables(tables), Some(i)) => {
                if let Some(table) = tables.get_mut(i) {
                    *table = entry.into_table();
                }
            }
            (Grants::Tables(tables), None) => tables.push(entry.into_table()),
        }
    }

    pub(super) fn remove(&mut self, position: usize) {
        match self {
            Grants::Inline(list) => remove_entry(list, position),
            Grants::Tables(tables) => {
                tables.remove(position);
            }
        }
    }
}

/// Appends `entry` laid out like the list's last entry (one per line,
/// indented by two spaces, when the list is empty). A comment after the
/// last entry stays on that entry's line.
fn append(list: &mut Array, entry: InlineTable) {
    let decor_of = |v: &Value| {
        v.decor()
            .prefix()
            .and_then(|p| p.as_str())
            .map(str::to_owned)
    };
    let last = list
        .iter()
        .last()
        .map(|v| decor_of(v).unwrap_or_else(|| " ".into()));
    let trailing = list.trailing().as_str().unwrap_or_default().to_owned();
    let (prefix, new_trailing) = match last {
        None => ("\n  ".to_owned(), "\n".to_owned()),
        Some(last) => match (last.rfind('\n'), trailing.rfind('\n')) {
            (Some(at), Some(nl)) => (
                format!("{}{}", &trailing[..=nl], &last[at + 1..]),
                format!("\n{}", &trailing[nl + 1..]),
            ),
            (Some(_), None) => (last, trailing),
            // All on one line: `[{ ... }, { ... }]`.
            (None, _) => (" ".to_owned(), trailing),
        },
    };
    if new_trailing.contains('\n') {
        list.set_trailing_comma(true);
    }
    list.set_trailing(new_trailing);
    list.push(entry);
    if let Some(value) = list.iter_mut().last() {
        value.decor_mut().set_prefix(prefix);
        value.decor_mut().set_suffix("");
    }
}

/// Removes the entry at `index`; the end of the previous entry's line (a
/// comment after its comma) stays where it was.
fn remove_entry(list: &mut Array, index: usize) {
    let prefix = list
        .get(index)
        .and_then(|v| v.decor().prefix()?.as_str().map(str::to_owned));
    list.remove(index);
    if list.is_empty() {
        // `grants = []`, as a person would leave it.
        list.set_trailing("");
        list.set_trailing_comma(false);
        return;
    }
    let Some(keep) = prefix
        .as_deref()
        .and_then(|p| p.find('\n').map(|nl| &p[..nl]))
    else {
        return;
    };
    let keep = keep.to_owned();
    match list.get_mut(index) {
        Some(next) => {
            let rest = next
                .decor()
                .prefix()
                .and_then(|p| p.as_str())
                .unwrap_or_default();
            let joined = format!("{keep}{rest}");
            next.decor_mut().set_prefix(joined);
        }
        None => {
            let rest = list.trailing().as_str().unwrap_or_default();
            let joined = format!("{keep}{rest}");
            list.set_trailing(joined);
        }
    }
}
