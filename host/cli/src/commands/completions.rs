//! `pv-host completions`: shell completion scripts.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use clap_complete::Shell;

use crate::exit;

/// Print a completion script for SHELL on stdout, for example
/// `pv-host completions bash > /etc/bash_completion.d/pv-host` or
/// `pv-host completions zsh > "${fpath[1]}/_pv-host"`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, elvish, fish, powershell or zsh.
    #[arg(value_enum)]
    shell: Shell,
}

/// Run the command on the CLI's own definition.
pub fn run(args: CompletionsArgs, mut command: clap::Command) -> Result<ExitCode> {
    let name = command.get_name().to_owned();
    clap_complete::generate(args.shell, &mut command, name, &mut std::io::stdout());
    Ok(ExitCode::from(exit::OK))
}
