//! The README's command tables against the binaries' own command lines: every subcommand a
//! binary has (to its leaves: `case open`, `calibrate flat-field`) must have a row, so that a
//! new command cannot ship undocumented.

/// The README at the project root.
pub const README: &str = include_str!("../../README.md");

/// The leaf commands of `cmd` (`merge patches`, `fields`) that no row of a README table names as
/// `` `<binary> <command>`` (followed by a space, a backtick or an escaped bar).
pub fn commands_missing_from_readme(cmd: &clap::Command, readme: &str) -> Vec<String> {
    let binary = cmd.get_name().to_string();
    let rows: Vec<&str> = readme.lines().filter(|l| l.starts_with('|')).collect();
    let mut missing = Vec::new();
    let mut stack: Vec<(String, &clap::Command)> =
        cmd.get_subcommands().map(|c| (c.get_name().to_string(), c)).collect();
    while let Some((path, c)) = stack.pop() {
        if c.get_name() == "help" {
            continue;
        }
        let subs: Vec<&clap::Command> = c.get_subcommands().filter(|s| s.get_name() != "help").collect();
        if !subs.is_empty() {
            stack.extend(subs.into_iter().map(|s| (format!("{path} {}", s.get_name()), s)));
            continue;
        }
        let named = format!("`{binary} {path}");
        let listed = rows.iter().any(|row| {
            row.match_indices(&named)
                .any(|(at, _)| matches!(row[at + named.len()..].chars().next(), Some(' ' | '`' | '\\')))
        });
        if !listed {
            missing.push(format!("{binary} {path}"));
        }
    }
    missing.sort();
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_without_a_row_is_named() {
        let cmd = clap::Command::new("tool").subcommand(clap::Command::new("run")).subcommand(
            clap::Command::new("case").subcommand(clap::Command::new("open")).subcommand(clap::Command::new("close")),
        );
        let readme = "| `tool run --fast` | runs |\n| `tool case open ID` | opens |\ntool case close in prose\n";
        assert_eq!(commands_missing_from_readme(&cmd, readme), ["tool case close"]);
        assert!(commands_missing_from_readme(&cmd, &format!("{readme}| `tool case close` | closes |")).is_empty());
        // `run` is not `runner`.
        assert_eq!(
            commands_missing_from_readme(&cmd, "| `tool runner` |"),
            ["tool case close", "tool case open", "tool run"]
        );
    }
}
