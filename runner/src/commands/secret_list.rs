//! `runner secret list`: names, projects, versions and dates; never values.

use clap::Args;
use time::format_description::well_known::Rfc3339;

use crate::cli::Global;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct SecretList {}

impl SecretList {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let dir = global.open_home()?;
        let store = Store::open(&dir)?;
        let rows: Vec<[String; 4]> = store
            .entries()
            .map(|entry| {
                let created = entry.created.format(&Rfc3339).unwrap_or_else(|_| "?".into());
                [entry.project.to_string(), entry.name.to_string(), entry.version.to_string(), created]
            })
            .collect();
        if rows.is_empty() {
            println!("no secrets stored; add one with `runner secret set NAME --project P`");
            return Ok(crate::exit_code::OK);
        }
        print_table(&["PROJECT", "NAME", "VERSION", "CREATED"], &rows);
        Ok(crate::exit_code::OK)
    }
}

/// Prints rows under a header, columns padded to their widest cell.
pub fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: [&str; N]| {
        let padded: Vec<String> =
            cells.iter().zip(widths).map(|(cell, width)| format!("{cell:width$}")).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(*header);
    for row in rows {
        line(row.each_ref().map(String::as_str));
    }
}
