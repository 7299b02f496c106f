//! The incident report as a browser shows it: the sample report
//! (tests/data/report_sample.json: two identities, an incomplete window
//! with one sequence gap, a divergent credential held through a hostile
//! path) is rendered by `witness::evidence::html::render`, opened by
//! Debian's headless Chromium, and checked twice: the screenshot is a
//! 1280x2400 PNG that is not blank and shows the red completeness banner,
//! the green integrity banner and the allow bars (decoded with the `png`
//! crate), and the DOM Chromium built says what the sample
//! says: the identity, every verdict count in its column, the
//! completeness and integrity statements, and the hostile path as text,
//! with no script element and the title unchanged.
//!
//! Chromium is required: without it on PATH the test fails and says to
//! run scripts/provision.sh. Set `WITNESS_REPORT_PNG=<path>.png` to keep
//! a copy of the screenshot (and of the page, as `<path>.html`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 2400;
const TIMEOUT: Duration = Duration::from_secs(60);
const HOSTILE: &str = "/tmp/</td><script>document.title='pwned'</script>";

fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join("chromium")).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "chromium is not on PATH: run scripts/provision.sh (it installs Debian's chromium package, which this test needs)"
        )
    })
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("witness-report-chromium-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// What one Chromium run printed, and how to say what was run.
struct Run {
    command: String,
    stdout: String,
    stderr: String,
}

impl Run {
    fn context(&self) -> String {
        format!("command: {}\nstderr:\n{}", self.command, self.stderr)
    }
}

/// Runs Chromium with `args` (HOME in `dir`, output in files there, so a
/// large DOM cannot fill a pipe), killed after [`TIMEOUT`].
fn run_chromium(dir: &Path, name: &str, args: &[String]) -> Run {
    let exe = chromium();
    let command = format!("HOME={} {} {}", dir.display(), exe.display(), args.join(" "));
    let out_path = dir.join(format!("{name}.stdout"));
    let err_path = dir.join(format!("{name}.stderr"));
    let mut child = Command::new(&exe)
        .args(args)
        .env("HOME", dir)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = fs::read_to_string(&err_path).unwrap_or_default();
            panic!("chromium did not finish in {TIMEOUT:?} and was killed\ncommand: {command}\nstderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let run = Run {
        command,
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    };
    assert!(status.success(), "chromium failed: {status}\n{}", run.context());
    run
}

// ---------------------------------------------------------------------
/// A decoded screenshot: RGB pixels, row by row.
struct Image {
    width: u32,
    height: u32,
    rgb: Vec<[u8; 3]>,
}

/// Decodes a screenshot with the `png` crate, to 8-bit RGB.
fn decode_png(bytes: &[u8]) -> Result<Image, String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| format!("not a PNG: {e}"))?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or("image too large")?];
    let frame = reader.next_frame(&mut buf).map_err(|e| format!("damaged PNG: {e}"))?;
    let channels = match frame.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => return Err(format!("unexpected colour type {other:?}")),
    };
    let rgb = buf[..frame.buffer_size()].chunks(channels).map(|p| [p[0], p[1], p[2]]).collect();
    Ok(Image { width: frame.width, height: frame.height, rgb })
}

fn hex(c: &str) -> [u8; 3] {
    let n = u32::from_str_radix(c.trim_start_matches('#'), 16).unwrap();
    [(n >> 16) as u8, (n >> 8) as u8, n as u8]
}

/// Pixels within 3 of `colour` in every channel.
fn pixels_like(img: &Image, colour: [u8; 3]) -> usize {
    img.rgb.iter().filter(|p| p.iter().zip(colour).all(|(a, b)| a.abs_diff(b) <= 3)).count()
}

// ---------------------------------------------------------------------
// The DOM Chromium serialized.

/// The element with `id`, from its start tag to the first end tag `tag`.
fn element<'a>(dom: &'a str, tag: &str, id: &str) -> &'a str {
    let start = dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no element with id {id} in the DOM"));
    let rest = &dom[dom[..start].rfind('<').unwrap_or(start)..];
    &rest[..rest.find(&format!("</{tag}>")).unwrap_or_else(|| panic!("no </{tag}> after id {id}"))]
}

/// The text of an HTML fragment: tags removed, character references of
/// a serialized DOM decoded.
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// How Chromium serializes `s` as a text node.
fn as_dom_text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\u{a0}', "&nbsp;")
}

/// The cells (`th` or `td`) of each row of a table fragment, as text.
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .split("<tr")
        .skip(1)
        .map(|row| {
            let row = &row[..row.find("</tr>").unwrap_or(row.len())];
            let mut cells = Vec::new();
            let mut rest = row;
            while let Some(open) = rest.find("<td").into_iter().chain(rest.find("<th")).min() {
                let tag = &rest[open + 1..open + 3];
                let body = &rest[open..];
                let body = &body[body.find('>').unwrap() + 1..];
                let end = body.find(&format!("</{tag}>")).unwrap_or(body.len());
                cells.push(text_of(&body[..end]).trim().to_string());
                rest = &body[end..];
            }
            cells
        })
        .collect()
}

#[test]
fn chromium_renders_the_incident_report() {
    let exe = chromium();
    let sample_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/report_sample.json");
    let sample: Value = serde_json::from_str(&fs::read_to_string(&sample_path).unwrap()).unwrap();
    let html = witness::evidence::html::render(&sample);
    assert!(html.contains(&HOSTILE.replace('<', "&lt;").replace('>', "&gt;").replace('\'', "&#39;")));

    let dir = temp("sample");
    let page = dir.join("report.html");
    fs::write(&page, &html).unwrap();
    let url = format!("file://{}", page.display());
    let png_path = dir.join("report.png");
    let common = ["--headless", "--no-sandbox", "--disable-gpu"].map(String::from);

    // The screenshot.
    let mut args = common.to_vec();
    args.extend([
        "--hide-scrollbars".to_string(),
        format!("--window-size={WIDTH},{HEIGHT}"),
        format!("--screenshot={}", png_path.display()),
        url.clone(),
    ]);
    let shot = run_chromium(&dir, "screenshot", &args);
    let png = fs::read(&png_path)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}\n{}", png_path.display(), shot.context()));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG\n{}", shot.context());
    assert_eq!(&png[12..16], b"IHDR", "the first chunk is not IHDR\n{}", shot.context());
    let (w, h) =
        (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()));
    assert_eq!((w, h), (WIDTH, HEIGHT), "IHDR size\n{}", shot.context());
    let img = decode_png(&png).unwrap_or_else(|e| panic!("cannot decode the screenshot: {e}\n{}", shot.context()));
    assert_eq!((img.width, img.height, img.rgb.len()), (WIDTH, HEIGHT, (WIDTH * HEIGHT) as usize));
    let white = pixels_like(&img, [255, 255, 255]);
    let not_white = img.rgb.len() - white;
    assert!(
        not_white * 100 > img.rgb.len() * 3,
        "the screenshot is blank: {not_white} pixels not white\n{}",
        shot.context()
    );
    let colours: std::collections::BTreeSet<[u8; 3]> = img.rgb.iter().copied().collect();
    assert!(colours.len() > 50, "only {} colours: no text rendered\n{}", colours.len(), shot.context());
    // The incomplete window's red banner, the intact log's green one, and
    // the allow bars of the verdicts and the timeline.
    for (what, colour, at_least) in [
        ("red completeness banner border", "#b71c1c", 1500),
        ("red completeness banner background", "#fdecea", 20_000),
        ("green integrity banner border", "#1e7b34", 1500),
        ("green integrity banner background", "#e7f4ea", 20_000),
        ("allow bars", "#86ad92", 2000),
        ("deny bars", "#c62828", 20),
    ] {
        let n = pixels_like(&img, hex(colour));
        assert!(n >= at_least, "{what} ({colour}): {n} pixels, expected at least {at_least}\n{}", shot.context());
    }
    if let Some(keep) = std::env::var_os("WITNESS_REPORT_PNG") {
        fs::copy(&png_path, &keep).unwrap();
        fs::copy(&page, Path::new(&keep).with_extension("html")).unwrap();
    }

    // The DOM after parsing.
    let mut args = common.to_vec();
    args.extend(["--dump-dom".to_string(), url]);
    let run = run_chromium(&dir, "dom", &args);
    let dom = &run.stdout;
    let ctx = run.context();
    assert!(dom.contains("id=\"verdicts\""), "no report in the DOM:\n{dom}\n{ctx}");

    let identity = sample["identity"].as_str().unwrap();
    assert_eq!(text_of(element(dom, "dd", "identity")), identity, "{ctx}");

    // Every verdict count in its column, and in its bar.
    let table = element(dom, "section", "verdicts");
    let rows = rows(table);
    assert_eq!(
        rows[0],
        ["Identity", "Owner", "Allow", "Deny", "Review", "Investigate", "Kernel denied", "Outcomes"],
        "verdicts header\n{ctx}"
    );
    let verdicts = sample["verdicts"].as_array().unwrap();
    assert_eq!(rows.len(), 1 + verdicts.len(), "verdict rows: {rows:?}\n{ctx}");
    for v in verdicts {
        let id = v["identity"].as_str().unwrap();
        let row =
            rows.iter().find(|r| r[0] == id).unwrap_or_else(|| panic!("no verdict row for {id}: {rows:?}\n{ctx}"));
        let expected: Vec<String> = ["allow", "deny", "review", "investigate", "kernel_denied"]
            .iter()
            .map(|k| v[k].as_u64().unwrap_or_else(|| panic!("sample {id} has no {k}")).to_string())
            .collect();
        assert_eq!(row[2..7], expected[..], "verdicts of {id}\n{ctx}");
        let owner = v["owner"].as_str().unwrap_or("none");
        assert_eq!(row[1], owner, "owner of {id}\n{ctx}");
        let html_row = table.split("<tr").find(|r| r.contains(&format!(">{id}<"))).unwrap();
        for k in ["allow", "deny", "review", "investigate"] {
            let n = v[k].as_u64().unwrap();
            let title = format!("<title>{k}: {n}</title>");
            assert_eq!(html_row.contains(&title), n > 0, "{id}'s bar and {title}\n{ctx}");
        }
    }
    // The sample's numbers, so that a wrong sample cannot pass either.
    let batch = rows.iter().find(|r| r[0] == identity).unwrap();
    assert_eq!(batch[2..7], ["120", "1", "2", "3", "1"], "{ctx}");

    let completeness = element(dom, "section", "completeness");
    assert!(completeness.contains("class=\"banner bad\""), "{completeness}\n{ctx}");
    let c = text_of(completeness);
    assert!(c.contains("Incomplete: 1 loss"), "{c}\n{ctx}");
    assert!(
        c.contains("CPU 1: records 1200..=1236 (37) lost between 2026-12-02T10:17:42.301Z and 2026-12-02T10:17:42.519Z; around it on CPU 1: spiffe://demo.witness.test/data/batch, unattested"),
        "{c}\n{ctx}"
    );
    assert!(c.contains("every judged event is in the log"), "{c}\n{ctx}");
    assert!(c.contains("ptrace_attach"), "{c}\n{ctx}");

    let integrity = element(dom, "section", "integrity");
    assert!(integrity.contains("class=\"banner ok\""), "{integrity}\n{ctx}");
    assert_eq!(text_of(element(dom, "p", "integrity-text")), sample["integrity"]["text"].as_str().unwrap(), "{ctx}");

    // The hostile path is text, in the possession table and the events;
    // it made no element and ran nothing.
    let hostile = as_dom_text(HOSTILE);
    assert!(element(dom, "section", "possession").contains(&hostile), "{ctx}");
    assert!(element(dom, "section", "events").contains(&hostile), "{ctx}");
    assert!(!dom.to_ascii_lowercase().contains("<script"), "a script element in the DOM:\n{dom}\n{ctx}");
    let t = &dom[dom.find("<title>").unwrap() + 7..dom.find("</title>").unwrap()];
    assert_eq!(t, "witness incident report", "{ctx}");
    assert!(!t.contains("pwned"));
    assert!(
        text_of(element(dom, "p", "events-not-shown"))
            .starts_with(&format!("{} more not shown", sample["events_not_shown"].as_u64().unwrap())),
        "{ctx}"
    );

    eprintln!("{} rendered by {}: {} and the DOM checked", sample_path.display(), exe.display(), png_path.display());
    let _ = fs::remove_dir_all(&dir);
}

/// The report of a real bundle: the capture the real module made is
/// replayed into a signed log, `witness evidence bundle` writes the
/// archive, and Chromium renders its report.html: the identity, the
/// verdict counts the log holds for it, and the completeness statement.
#[test]
fn chromium_renders_a_real_bundles_report() {
    let dir = temp("bundle");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let witness = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_witness")).args(args).output().unwrap();
        assert!(
            o.status.success(),
            "witness {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let (log, key, bundle) = (dir.join("evidence.jsonl"), dir.join("evidence.key"), dir.join("incident.tar"));
    let (inventory, policy) = (root.join("examples/inventory.toml"), root.join("examples/policy"));
    witness(&[
        "replay",
        &path(&root.join("tests/data/judge_e2e.cap")),
        "--quiet",
        "--inventory",
        &path(&inventory),
        "--policy",
        &path(&policy),
        "--evidence",
        &path(&log),
        "--evidence-all",
        "--evidence-key",
        &path(&key),
    ]);
    const BATCH: &str = "spiffe://demo.witness.test/data/batch";
    witness(&[
        "evidence",
        "bundle",
        "--identity",
        BATCH,
        "--inventory",
        &path(&inventory),
        "--policy",
        &path(&policy),
        "-o",
        &path(&bundle),
        &path(&log),
    ]);
    // The verdicts the log holds for the identity.
    let mut counts = [0u64; 4];
    for line in fs::read_to_string(&log).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["record"] == "event" && v["identity"]["spiffe_id"] == BATCH {
            let i = ["allow", "deny", "review", "investigate"].iter().position(|o| v["outcome"] == *o).unwrap();
            counts[i] += 1;
        }
    }
    assert!(counts[3] > 0 && counts[0] > 0, "{counts:?}");
    let mut archive = tar::Archive::new(fs::File::open(&bundle).unwrap());
    let html = dir.join("report.html");
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some("report.html") {
            entry.unpack(&html).unwrap();
        }
    }
    assert!(html.exists(), "no report.html in the bundle");
    let url = format!("file://{}", html.display());
    let dom = run_chromium(
        &dir,
        "dom",
        &["--headless".into(), "--no-sandbox".into(), "--disable-gpu".into(), "--dump-dom".into(), url.clone()],
    )
    .stdout;
    assert_eq!(text_of(element(&dom, "dd", "identity")).trim(), BATCH, "the identity");
    let verdicts = rows(element(&dom, "table", "verdicts"));
    let row = verdicts
        .iter()
        .find(|r| r.first().is_some_and(|c| c.contains(BATCH)))
        .unwrap_or_else(|| panic!("no verdict row for batch: {verdicts:?}"));
    let shown: Vec<&str> = row.iter().skip(2).take(4).map(String::as_str).collect();
    let expected: Vec<String> = counts.iter().map(u64::to_string).collect();
    assert_eq!(shown, expected, "verdicts allow, deny, review, investigate");
    let completeness = text_of(element(&dom, "section", "completeness"));
    assert!(completeness.contains("Complete: no record was lost in the window"), "{completeness}");
    run_chromium(
        &dir,
        "png",
        &[
            "--headless".into(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--hide-scrollbars".into(),
            "--window-size=1280,1600".into(),
            format!("--screenshot={}", dir.join("report.png").display()),
            url,
        ],
    );
    let img = decode_png(&fs::read(dir.join("report.png")).unwrap()).unwrap();
    assert_eq!((img.width, img.height), (1280, 1600));
}
