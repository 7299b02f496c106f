//! `witness evidence`: what can be proved from an evidence log offline —
//! its integrity (`verify`), the completeness of a window
//! (`completeness`), and the public key its checkpoints are signed with
//! (`pubkey`) — and the reports over a log, `witness drift` and `witness
//! possession`.

use std::path::PathBuf;

use anyhow::Context as _;
use witness::evidence::chain::{parse_public_key, Signer};
use witness::evidence::{completeness, verify};

/// `witness evidence ...`.
#[derive(clap::Subcommand)]
pub(crate) enum EvidenceCommand {
    /// Checks evidence logs (rotated files in any order, or a bundle): the
    /// hash chain across every line and file, and the checkpoints'
    /// signatures. Names the first bad line (edited, removed, reordered,
    /// cut, a rotated file missing) and exits 1; exits 0 when intact.
    Verify(VerifyArgs),
    /// Says whether a window of the log is complete (for one identity, or
    /// all): "complete", or exactly what was lost — CPU, sequence range,
    /// time span and the identities around it — from the log's gap lines
    /// and the kernel's counters in its checkpoints. Exits 5 when
    /// incomplete.
    Completeness(CompletenessArgs),
    /// Writes an incident bundle: one archive with the window's evidence
    /// (other identities' lines redacted, the chain intact), the
    /// completeness, drift and possession statements, the configuration in
    /// force, and a self-contained HTML report. `verify` checks it offline.
    Bundle(BundleArgs),
    /// Prints the public key that signs checkpoints (`ed25519:<base64>`,
    /// or PEM), creating the key (mode 0600) if it does not exist yet.
    Pubkey(PubkeyArgs),
}

/// Arguments of `witness evidence verify`.
#[derive(clap::Args)]
pub(crate) struct VerifyArgs {
    /// The files: `evidence.jsonl*` for a log and its rotated files.
    #[arg(required = true, value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
    /// The key checkpoints must be signed with: `ed25519:<base64>` (as
    /// `witness evidence pubkey` prints it), a PEM public key, or a file
    /// holding either. Without it, signatures are checked against the key
    /// the lines name, which proves less.
    #[arg(long, value_name = "KEY")]
    pub(crate) pubkey: Option<String>,
}

/// Arguments of `witness evidence completeness`.
#[derive(clap::Args)]
pub(crate) struct CompletenessArgs {
    /// The log's files (`evidence.jsonl*`).
    #[arg(required = true, value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
    /// Only this identity's events are counted (a SPIFFE ID).
    #[arg(long, value_name = "SPIFFE_ID")]
    pub(crate) identity: Option<String>,
    /// The window's start: RFC 3339 (`2026-12-02T10:00:00Z`) or Unix
    /// seconds (default: the log's first line).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) from: Option<i128>,
    /// The window's end (default: the log's last checkpoint).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) to: Option<i128>,
    /// The key checkpoints must be signed with (as for `verify`).
    #[arg(long, value_name = "KEY")]
    pub(crate) pubkey: Option<String>,
    /// Output: text, json or markdown.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub(crate) format: ReportFormat,
}

/// How a report is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ReportFormat {
    /// For people.
    Text,
    /// One JSON object.
    Json,
    /// A Markdown document (tickets, reviews).
    Markdown,
}

/// A time on the command line: RFC 3339, or Unix seconds (fractions
/// allowed); Unix nanoseconds out.
pub(crate) fn parse_time(s: &str) -> Result<i128, String> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t.as_nanosecond());
    }
    match s.parse::<f64>() {
        // CAST: seconds to nanoseconds; sub-nanosecond precision is noise.
        #[allow(clippy::cast_possible_truncation)]
        Ok(secs) if secs.is_finite() => Ok((secs * 1e9) as i128),
        _ => Err(format!("'{s}' is neither an RFC 3339 time (2026-12-02T10:00:00Z) nor Unix seconds")),
    }
}

/// A window, an identity and an output format: what the reports over a
/// log share.
#[derive(clap::Args)]
pub(crate) struct WindowArgs {
    /// The log's files (`evidence.jsonl*`).
    #[arg(required = true, value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
    /// The window's start: RFC 3339 or Unix seconds (default: the log's
    /// beginning).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) from: Option<i128>,
    /// The window's end (default: the log's end).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) to: Option<i128>,
    /// Output: text, json or markdown.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub(crate) format: ReportFormat,
}

/// Arguments of `witness drift`.
#[derive(clap::Args)]
pub(crate) struct DriftArgs {
    // Flattened: its fields carry the help.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub(crate) window: WindowArgs,
    /// The inventory in force when the log was written (the declarations).
    #[arg(long, value_name = "FILE")]
    pub(crate) inventory: PathBuf,
    /// One identity (a SPIFFE ID).
    #[arg(long, value_name = "SPIFFE_ID", required_unless_present = "all", conflicts_with = "all")]
    pub(crate) identity: Option<String>,
    /// Every declared workload.
    #[arg(long)]
    pub(crate) all: bool,
}

/// Arguments of `witness possession`.
#[derive(clap::Args)]
pub(crate) struct PossessionArgs {
    // Flattened: its fields carry the help.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub(crate) window: WindowArgs,
    /// The inventory in force (for the declared paths, and the secrets
    /// their owners never opened).
    #[arg(long, value_name = "FILE")]
    pub(crate) inventory: Option<PathBuf>,
    /// Only credentials this identity owns or holds.
    #[arg(long, value_name = "SPIFFE_ID")]
    pub(crate) identity: Option<String>,
}

/// `witness shadow ...`.
#[derive(clap::Subcommand)]
pub(crate) enum ShadowCommand {
    /// What the shadow policy set would change, from an evidence log
    /// written with --shadow-policy: events by identity and kind whose
    /// outcome it would change ("would deny 12 sock_connect of ...").
    Report(ShadowArgs),
}

/// Arguments of `witness shadow report`.
#[derive(clap::Args)]
pub(crate) struct ShadowArgs {
    // Flattened: its fields carry the help.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub(crate) window: WindowArgs,
    /// Only this identity (a SPIFFE ID).
    #[arg(long, value_name = "SPIFFE_ID")]
    pub(crate) identity: Option<String>,
}

/// Runs `witness shadow report`.
pub(crate) fn shadow(ShadowCommand::Report(args): &ShadowCommand) -> anyhow::Result<()> {
    let w = &args.window;
    let q = witness::evidence::shadow::Query { from: w.from, to: w.to, identity: args.identity.clone() };
    let report = witness::evidence::shadow::assess(&w.files, &q)?;
    match w.format {
        ReportFormat::Text => print!("{report}"),
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        ReportFormat::Markdown => print!("{}", report.markdown()),
    }
    Ok(())
}

/// `witness intent ...`.
#[derive(clap::Subcommand)]
pub(crate) enum IntentCommand {
    /// Writes inventory entries and Cedar policies learned from a window
    /// of the evidence log (written with --evidence-all): peers and
    /// binaries each workload used, forbids for the rest. Refuses a window
    /// that `witness evidence completeness` does not prove complete
    /// (exit 5, the losses named): a policy learned from a lossy window
    /// breaks applications.
    Suggest(IntentArgs),
}

/// Arguments of `witness intent suggest`.
#[derive(clap::Args)]
pub(crate) struct IntentArgs {
    // Flattened: its fields carry the help.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub(crate) window: WindowArgs,
    /// The inventory in force (selectors, owners and secrets are kept).
    #[arg(long, value_name = "FILE")]
    pub(crate) inventory: PathBuf,
    /// Learn only this workload (the others are kept as declared).
    #[arg(long, value_name = "SPIFFE_ID")]
    pub(crate) identity: Option<String>,
    /// The directory to write inventory.toml and policy/intent.cedar to.
    #[arg(short, long, value_name = "DIR")]
    pub(crate) output: PathBuf,
}

/// Runs `witness intent suggest`.
pub(crate) fn intent(IntentCommand::Suggest(args): &IntentCommand) -> anyhow::Result<()> {
    let inventory = witness::identity::Inventory::load(&args.inventory)?;
    if let Some(id) = &args.identity {
        anyhow::ensure!(inventory.by_id(id).is_some(), "{}: no workload {id}", args.inventory.display());
    }
    let w = &args.window;
    let q = completeness::Query { from: w.from, to: w.to, identity: args.identity.clone() };
    let statement = completeness::assess(&w.files, q.clone())?;
    if !statement.complete {
        eprint!("{statement}");
        return Err(Unproven(format!(
            "the window is incomplete ({} losses): no intent is learned from it",
            statement.losses.len()
        ))
        .into());
    }
    if statement.evidence != "all" {
        return Err(Unproven(format!(
            "the log does not hold every judged event (evidence: {}): run witness run with --evidence-all to learn from it",
            statement.evidence
        ))
        .into());
    }
    let window = format!(
        "{} .. {}",
        witness::evidence::read::rfc3339(statement.from_unix_ns),
        witness::evidence::read::rfc3339(statement.to_unix_ns)
    );
    let s = witness::evidence::intent::suggest(&w.files, &inventory, &q, &window)?;
    let policy_dir = args.output.join("policy");
    std::fs::create_dir_all(&policy_dir).with_context(|| format!("creating {}", policy_dir.display()))?;
    let inventory_file = args.output.join("inventory.toml");
    std::fs::write(&inventory_file, &s.inventory).with_context(|| format!("writing {}", inventory_file.display()))?;
    let policy_file = policy_dir.join("intent.cedar");
    std::fs::write(&policy_file, &s.policies).with_context(|| format!("writing {}", policy_file.display()))?;
    println!(
        "learned {} from {window} (complete): wrote {} and {}",
        s.learned.join(", "),
        inventory_file.display(),
        policy_file.display()
    );
    for n in &s.not_learned {
        println!("not learned: {n}");
    }
    Ok(())
}

/// Runs `witness drift`.
pub(crate) fn drift(args: &DriftArgs) -> anyhow::Result<()> {
    let inventory = witness::identity::Inventory::load(&args.inventory)?;
    let w = &args.window;
    let q = witness::evidence::drift::Query { from: w.from, to: w.to, identity: args.identity.clone() };
    if let Some(id) = &args.identity {
        anyhow::ensure!(inventory.by_id(id).is_some(), "{}: no workload {id}", args.inventory.display());
    }
    let report = witness::evidence::drift::assess(&w.files, &inventory, &q)?;
    match w.format {
        ReportFormat::Text => print!("{report}"),
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        ReportFormat::Markdown => print!("{}", report.markdown()),
    }
    Ok(())
}

/// Runs `witness possession`.
pub(crate) fn possession(args: &PossessionArgs) -> anyhow::Result<()> {
    let inventory = args.inventory.as_deref().map(witness::identity::Inventory::load).transpose()?;
    let w = &args.window;
    let q = witness::evidence::possession::Query { from: w.from, to: w.to, identity: args.identity.clone() };
    let report = witness::evidence::possession::assess(&w.files, inventory.as_ref(), &q)?;
    match w.format {
        ReportFormat::Text => print!("{report}"),
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        ReportFormat::Markdown => print!("{}", report.markdown()),
    }
    Ok(())
}

/// Arguments of `witness evidence bundle`.
#[derive(clap::Args)]
pub(crate) struct BundleArgs {
    // Flattened: its fields carry the help.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub(crate) window: WindowArgs,
    /// The identity the bundle is about (a SPIFFE ID; default: every one,
    /// nothing redacted).
    #[arg(long, value_name = "SPIFFE_ID")]
    pub(crate) identity: Option<String>,
    /// The archive to write.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: PathBuf,
    /// The inventory in force (checked against the log's digest; included).
    #[arg(long, value_name = "FILE")]
    pub(crate) inventory: Option<PathBuf>,
    /// The policies in force (checked against the log's digest; included).
    #[arg(long, value_name = "PATH")]
    pub(crate) policy: Vec<PathBuf>,
    /// The key checkpoints must be signed with (as for `verify`).
    #[arg(long, value_name = "KEY")]
    pub(crate) pubkey: Option<String>,
}

/// Arguments of `witness evidence pubkey`.
#[derive(clap::Args)]
pub(crate) struct PubkeyArgs {
    /// The key file (PKCS#8 PEM).
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    pub(crate) key: Option<PathBuf>,
    /// Take the key file from this settings file's `evidence_key`.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Print a PEM public key (`BEGIN PUBLIC KEY`), as OpenSSL reads it.
    #[arg(long)]
    pub(crate) pem: bool,
}

/// Runs a `witness evidence` command.
pub(crate) fn run(command: EvidenceCommand) -> anyhow::Result<()> {
    match command {
        EvidenceCommand::Verify(args) => verify(&args),
        EvidenceCommand::Completeness(args) => completeness(&args),
        EvidenceCommand::Bundle(args) => bundle(&args),
        EvidenceCommand::Pubkey(args) => pubkey(&args),
    }
}

fn trusted(pubkey: Option<&str>) -> anyhow::Result<verify::Options> {
    let trusted = pubkey.map(parse_public_key).transpose().map_err(|e| anyhow::anyhow!("--pubkey: {e}"))?;
    Ok(verify::Options { trusted })
}

fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let options = trusted(args.pubkey.as_deref())?;
    if let [one] = &args.files[..] {
        if witness::evidence::bundle::is_bundle(one) {
            let checked = witness::evidence::bundle::verify(one, &options)?;
            for problem in &checked.members {
                println!("{}: {problem}", one.display());
            }
            print!("{}", checked.evidence);
            if let Some(first) = checked.members.first() {
                return Err(Unproven(format!("{}: {first}", one.display())).into());
            }
            return match &checked.evidence.problem {
                None => {
                    println!("{}: every member matches the manifest", one.display());
                    Ok(())
                }
                Some(problem) => Err(Unproven(problem.to_string()).into()),
            };
        }
    }
    let report = verify::verify_files(&args.files, &options)?;
    print!("{report}");
    match &report.problem {
        None => Ok(()),
        Some(problem) => Err(Unproven(problem.to_string()).into()),
    }
}

fn bundle(args: &BundleArgs) -> anyhow::Result<()> {
    use witness::evidence::bundle::{self, ConfigFiles, Request};
    let inventory = match &args.inventory {
        Some(p) => Some((p.clone(), witness::identity::Inventory::load(p)?)),
        None => None,
    };
    let policies = if args.policy.is_empty() {
        None
    } else {
        let loaded = witness::policy::Policies::load(&args.policy)?;
        Some((loaded.files().to_vec(), loaded.digest().to_string()))
    };
    let w = &args.window;
    let request = Request {
        log: &w.files,
        query: completeness::Query { from: w.from, to: w.to, identity: args.identity.clone() },
        config: ConfigFiles { inventory, policies },
        trusted: trusted(args.pubkey.as_deref())?.trusted,
        out: &args.output,
    };
    let written = bundle::write(&request)?;
    println!(
        "{}: {} lines ({} redacted); the window is {}; the log is {}",
        args.output.display(),
        written.lines,
        written.redacted,
        if written.complete { "complete" } else { "incomplete (see completeness.json)" },
        if written.intact { "intact" } else { "NOT intact" }
    );
    Ok(())
}

fn completeness(args: &CompletenessArgs) -> anyhow::Result<()> {
    let report = verify::verify_files(&args.files, &trusted(args.pubkey.as_deref())?)?;
    let query = completeness::Query { from: args.from, to: args.to, identity: args.identity.clone() };
    let mut statement = completeness::assess(&args.files, query)?;
    // The report without its first line (the files and their span).
    statement.integrity = Some(report.to_string().lines().skip(1).collect::<Vec<_>>().join("; "));
    match args.format {
        ReportFormat::Text => print!("{statement}"),
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&statement)?),
        ReportFormat::Markdown => print!("{}", statement.markdown()),
    }
    if let Some(problem) = &report.problem {
        return Err(Unproven(format!("the log is not intact: {problem}")).into());
    }
    if !statement.complete {
        return Err(Unproven(format!("the window is incomplete: {} losses", statement.losses.len())).into());
    }
    Ok(())
}

/// The evidence does not prove what was asked: a log that fails
/// verification, an incomplete window (exit code 5).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Unproven(pub(crate) String);

fn pubkey(args: &PubkeyArgs) -> anyhow::Result<()> {
    let path = match (&args.key, &args.config) {
        (Some(key), _) => key.clone(),
        (None, Some(config)) => witness::config::settings::Settings::load(config)?
            .evidence_key
            .with_context(|| format!("{}: no evidence_key", config.display()))?,
        (None, None) => {
            anyhow::bail!("give the key file (--key FILE) or a settings file with evidence_key (--config FILE)")
        }
    };
    let signer = Signer::load_or_create(&path)?;
    if signer.created {
        eprintln!("witness: created {} (mode 0600)", path.display());
    }
    if args.pem {
        print!("{}", signer.public_pem());
    } else {
        println!("{}", signer.name);
    }
    Ok(())
}
