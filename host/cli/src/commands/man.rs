//! `pv-host man`: manual pages in roff.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use crate::exit;

/// Print the pv-host(1) manual page on stdout, or, with --out, write it and one
/// page per subcommand (pv-host-run(1), ...) into a directory.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write pv-host.1 and pv-host-<command>.1 into DIR instead of printing
    /// pv-host.1.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Run the command on the CLI's own definition.
pub fn run(args: ManArgs, command: clap::Command) -> Result<ExitCode> {
    let Some(dir) = args.out else {
        clap_mangen::Man::new(command).render(&mut std::io::stdout()).context("cannot write the manual page")?;
        return Ok(ExitCode::from(exit::OK));
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut pages = vec![(command.get_name().to_owned(), command.clone())];
    for sub in command.get_subcommands() {
        let name = format!("{}-{}", command.get_name(), sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut file = std::fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
        clap_mangen::Man::new(page).render(&mut file).with_context(|| format!("cannot write {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(ExitCode::from(exit::OK))
}
