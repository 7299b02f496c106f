//! `witness`: the collector's command line. This file parses it and calls
//! the command (see `commands`, which also gives the exit codes).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
mod commands;

use commands::{configure, events, record, replay, run, status};

#[derive(Parser)]
#[command(name = "witness", version, about = "Kernel telemetry for workload identity: the collector")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The daemon: judge every event against the inventory and policies;
    /// serve /metrics, export OTLP, write the evidence log.
    Run(run::RunArgs),
    /// Print the records the kernel module captures, as they arrive.
    Events(events::EventsArgs),
    /// Show the kernel's ring and hook counters and what it records.
    Status(status::StatusArgs),
    /// Change what the kernel records: kinds, filters, poll watermark
    /// (needs CAP_SYS_ADMIN).
    Config(configure::ConfigArgs),
    /// Save the device's records to a capture file.
    Record(record::RecordArgs),
    /// Run a capture file through the whole pipeline (identity, policy,
    /// evidence, metrics) and print its events.
    Replay(replay::ReplayArgs),
    /// Policy tools.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Workload identity tools.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Inventory tools.
    #[command(subcommand)]
    Inventory(InventoryCommand),
    /// Proves things about evidence logs offline: verify, completeness,
    /// pubkey.
    #[command(subcommand)]
    Evidence(commands::evidence::EvidenceCommand),
    /// Drift per identity over an evidence log (written with
    /// --evidence-all): declarations never used, behaviour never declared,
    /// events judged other than allow.
    Drift(commands::evidence::DriftArgs),
    /// Who held each declared secret and keyring key, by which path, and
    /// whether the kernel allowed it; holders other than the owner are
    /// divergences.
    Possession(commands::evidence::PossessionArgs),
    /// Shadow policies: what a candidate set judged beside the active one
    /// would change.
    #[command(subcommand)]
    Shadow(commands::evidence::ShadowCommand),
    /// Least-privilege intent learned from a complete window of evidence.
    #[command(subcommand)]
    Intent(commands::evidence::IntentCommand),
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Check Cedar policies (and an inventory) against the witness schema;
    /// errors name file and line. Prints the schema with --schema.
    Validate {
        /// Policy files or directories of *.cedar files.
        policy: Vec<PathBuf>,
        /// Also check this inventory.
        #[arg(long)]
        inventory: Option<PathBuf>,
        /// Print the schema policies are checked against, and exit.
        #[arg(long)]
        schema: bool,
    },
}

#[derive(Subcommand)]
enum IdentityCommand {
    /// Show which inventory entry a running process is, and why.
    Explain {
        /// The process id.
        pid: u32,
        /// The identity inventory (TOML).
        #[arg(long)]
        inventory: PathBuf,
        /// Ask the container runtime's CRI socket for the process's pod
        /// (name, namespace, labels), e.g. unix:///run/containerd/containerd.sock.
        #[arg(long, value_name = "URI")]
        cri_endpoint: Option<String>,
    },
}

#[derive(Subcommand)]
enum InventoryCommand {
    /// Turn SPIRE registration entries (`spire-server entry show -output
    /// json`) into inventory entries; entries with selectors witness cannot
    /// evaluate are named and refused, never imported in part.
    ImportSpire {
        /// The JSON file of entries.
        file: PathBuf,
        /// Who answers for the imported workloads (SPIRE names no owner).
        #[arg(long)]
        owner: String,
        /// Leave out (and list) entries witness cannot evaluate instead of
        /// failing.
        #[arg(long)]
        skip_unsupported: bool,
        /// Write the inventory here instead of to standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// mimalloc: the pipeline frees each batch's events together, more than
/// glibc's per-thread cache holds, and its slow path showed in the profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let explicit = run::explicit_run_flags(&matches);
    let result = match cli.command {
        Command::Events(args) => events::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Config(args) => configure::run(&args),
        Command::Record(args) => record::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Run(args) => run::command(args, &explicit),
        Command::Policy(PolicyCommand::Validate { policy, inventory, schema }) => {
            commands::policy::validate(&policy, inventory.as_deref(), schema)
        }
        Command::Identity(IdentityCommand::Explain { pid, inventory, cri_endpoint }) => {
            commands::identity::explain(pid, &inventory, cri_endpoint.as_deref())
        }
        Command::Inventory(InventoryCommand::ImportSpire { file, owner, skip_unsupported, output }) => {
            commands::identity::import_spire(&file, &owner, skip_unsupported, output.as_deref())
        }
        Command::Evidence(command) => commands::evidence::run(command),
        Command::Drift(args) => commands::evidence::drift(&args),
        Command::Possession(args) => commands::evidence::possession(&args),
        Command::Shadow(command) => commands::evidence::shadow(&command),
        Command::Intent(command) => commands::evidence::intent(&command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("witness: error: {}", describe(&e));
            ExitCode::from(commands::exit_code(&e))
        }
    }
}

/// The error and its causes, each said once (library errors already name
/// their cause in their own message).
fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        if !out.contains(&msg) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&msg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches};
    use std::path::Path;
    use witness::config::control::{self, Filter};
    use witness::source::decode::Event;

    #[test]
    fn command_line_flags_win_over_the_settings_file() {
        let matches = Cli::command()
            .try_get_matches_from([
                "witness",
                "run",
                "--config",
                "/etc/w.toml",
                "--evidence-keep",
                "9",
                "--policy",
                "/p",
            ])
            .unwrap();
        let explicit = run::explicit_run_flags(&matches);
        let Command::Run(mut args) = Cli::from_arg_matches(&matches).unwrap().command else { panic!("not run") };
        let settings = witness::config::settings::Settings::parse(
            "evidence_keep = 2\nevidence_max_bytes = 1000\npolicy = [\"pol\"]\nmetrics = false\ninventory = \"inv.toml\"\n",
            Path::new("/etc/w.toml"),
        )
        .unwrap();
        run::merge_settings(&mut args, settings, &explicit);
        assert_eq!(args.judge.evidence_keep, 9, "flag wins");
        assert_eq!(args.judge.policy, vec![PathBuf::from("/p")], "flag wins");
        assert_eq!(args.judge.evidence_max_bytes, 1000, "file wins over the default");
        assert_eq!(args.judge.inventory.as_deref(), Some(Path::new("/etc/inv.toml")));
        assert!(args.no_metrics);
        assert_eq!(args.listen.to_string(), "127.0.0.1:9750", "default stays");
    }

    #[test]
    fn a_host_name_as_listen_address_gets_a_hint() {
        let err = parse(&["run", "--listen", "localhost:9750"]).err().expect("refused").to_string();
        assert!(err.contains("not resolved") && err.contains("127.0.0.1:9750"), "{err}");
    }
    use witness::source::decode::{Body, Meta};
    use witness_abi::ioctl::{FILTER_ADD, FILTER_PATH_PREFIX, FILTER_SECRET_PATH, FILTER_UID_EXCLUDE};
    use witness_abi::record::{ForkRecord, RecordKind};
    use zerocopy::FromZeros;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("witness").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn config_needs_a_change_and_valid_values() {
        assert!(parse(&["config"]).is_err());
        assert!(parse(&["config", "--device", "/dev/witness"]).is_err());
        for bad in [
            &["config", "--kinds", "exec,nope"][..],
            &["config", "--watermark", "0"],
            &["config", "--path-prefix", "relative"],
            &["config", "--clear", "everything"],
            &["config", "--uid-exclude", "-1"],
        ] {
            let err = parse(bad).err().unwrap_or_else(|| panic!("{bad:?} was accepted"));
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn config_turns_flags_into_filter_ops() {
        let cli = parse(&[
            "config",
            "--uid-exclude",
            "1234",
            "--path-prefix",
            "/opt/watched",
            "--secret-path",
            "/etc/shadow",
            "--clear",
            "path-prefix",
            "--kinds",
            "all",
        ])
        .unwrap();
        let Command::Config(args) = cli.command else { panic!() };
        assert_eq!(args.kinds, Some(control::all_kinds()));
        assert_eq!(args.clear, [Filter::PathPrefix]);
        let ops: Vec<(u32, u32, u64, u32)> =
            configure::filter_additions(&args).iter().map(|op| (op.op, op.filter, op.value, op.path_len)).collect();
        assert_eq!(
            ops,
            [
                (FILTER_ADD, FILTER_UID_EXCLUDE, 1234, 0),
                (FILTER_ADD, FILTER_PATH_PREFIX, 0, 12),
                (FILTER_ADD, FILTER_SECRET_PATH, 0, 11)
            ]
        );
    }

    #[test]
    fn events_filter_kinds_on_the_client() {
        let cli = parse(&["events", "--kinds", "exec,file_open"]).unwrap();
        let Command::Events(args) = cli.command else { panic!() };
        let event = |wire_kind: u16, body: Body| Event { meta: Meta { cpu: 0, seq: 0, ts_ns: 0 }, wire_kind, body };
        let fork = ForkRecord::new_zeroed();
        assert!(!commands::wanted(args.kinds, &event(RecordKind::Fork as u16, Body::Fork(fork))));
        assert!(commands::wanted(None, &event(RecordKind::Fork as u16, Body::Fork(fork))));
        // Kinds newer than this collector are never hidden.
        assert!(commands::wanted(args.kinds, &event(0xee, Body::Unknown)));
    }
}
