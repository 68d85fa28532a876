//! `attachd process FILE…`: the sandboxed pipeline on local files, variants written under
//! `--out`, one JSON line per file. Needs no database, object store or queue.

use crate::error::{Class, Code, ErrorCode};
use crate::pipeline::{self, Outcome, Pipeline, Status};
use crate::sandbox::VariantSpec;
use crate::settings::Settings;
use crate::variant;
use anyhow::Context;
use clap::Args;
use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct ProcessArgs {
    /// Files to process (with --store: file keys of uploads in the store).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Directory the variants are written to, one sub-directory per file.
    #[arg(long, required_unless_present = "store")]
    pub out: Option<PathBuf>,
    /// Process uploads from the configured storage and database, as the worker does.
    #[arg(long)]
    pub store: bool,
    /// Variant to render, `name:WxH[:webp|jpeg|png|auto[:quality[:contain|cover]]]`;
    /// repeatable. Default: thumb:256x256:webp:80 and preview:1280x1280:jpeg:85.
    #[arg(long = "variant", value_name = "SPEC")]
    pub variants: Vec<String>,
    /// Declared MIME type for every file (default: guessed from each file's extension, as a
    /// browser would declare it). The scan compares it with the real type.
    #[arg(long)]
    pub mime: Option<String>,
}

/// What went wrong around the pipeline, on this machine rather than in the file's bytes.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("opening {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("publishing {dir}: {source}")]
    Publish {
        dir: PathBuf,
        source: std::io::Error,
    },
}

impl ErrorCode for LocalError {
    fn error_code(&self) -> Code {
        match self {
            LocalError::Read { .. } => Code::ReadFailed,
            LocalError::Publish { .. } => Code::PublishFailed,
        }
    }

    fn class(&self) -> Class {
        Class::Retryable
    }
}

/// One file's JSON line.
#[derive(Debug, Serialize)]
pub struct FileReport {
    pub file: String,
    pub status: Status,
    pub error_code: Option<&'static str>,
    pub error: Option<String>,
    pub kind: Option<&'static str>,
    pub mime: Option<String>,
    /// Displayed size: after EXIF orientation.
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub frames: Option<u32>,
    pub orientation: Option<u8>,
    pub verdict: Option<&'static str>,
    pub findings: Vec<FindingReport>,
    pub placeholder: Option<String>,
    pub variants: Vec<VariantReport>,
}

#[derive(Debug, Serialize)]
pub struct FindingReport {
    pub rule: String,
    pub verdict: &'static str,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct VariantReport {
    pub name: String,
    pub path: String,
    pub format: &'static str,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

impl FileReport {
    fn failed(file: &Path, e: &(impl ErrorCode + std::fmt::Display), status: Status) -> Self {
        FileReport {
            file: file.display().to_string(),
            status,
            error_code: Some(e.code()),
            error: Some(e.to_string()),
            kind: None,
            mime: None,
            width: None,
            height: None,
            frames: None,
            orientation: None,
            verdict: None,
            findings: vec![],
            placeholder: None,
            variants: vec![],
        }
    }
}

/// Processes the files, as many at once as `ATTACH_PROCESS_JOBS` (default: one per CPU).
pub async fn process(args: ProcessArgs, settings: &Settings) -> anyhow::Result<i32> {
    let specs = if args.variants.is_empty() {
        variant::defaults()
    } else {
        variant::parse_all(&args.variants)?
    };
    let pipeline = crate::app::pipeline(settings)?;
    let out = args
        .out
        .clone()
        .context("--out is required without --store")?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let jobs = settings
        .process_jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let gate = Arc::new(tokio::sync::Semaphore::new(jobs));
    let specs = Arc::new(specs);
    let dirs = output_dirs(&out, &args.files);

    let mut tasks = Vec::with_capacity(args.files.len());
    for (file, dir) in args.files.iter().cloned().zip(dirs) {
        let (pipeline, specs, gate) = (pipeline.clone(), specs.clone(), gate.clone());
        let mime = args
            .mime
            .clone()
            .unwrap_or_else(|| mime_from_extension(&file).to_string());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            tokio::task::spawn_blocking(move || process_file(&pipeline, &file, &mime, &specs, &dir))
                .await
        }));
    }
    // Lines come out in the order the files were given, each as soon as it is done.
    let mut environment_failure = false;
    for task in tasks {
        let report = task
            .await
            .context("process task")?
            .context("process task")?;
        // A file that cannot be read is this machine's fault, not the file's: exit 1.
        environment_failure |= report.error_code == Some(Code::ReadFailed.as_str());
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(if environment_failure { 1 } else { 0 })
}

/// Processes one local file and publishes its variants under `dir`.
pub fn process_file(
    pipeline: &Pipeline,
    file: &Path,
    declared_mime: &str,
    specs: &[VariantSpec],
    dir: &Path,
) -> FileReport {
    let data = match read_bounded(file, pipeline.max_read_bytes()) {
        Ok(Ok(data)) => data,
        Ok(Err(size)) => {
            let e = pipeline::PipelineError::InputTooLarge {
                actual: size,
                max: pipeline.max_read_bytes(),
            };
            return FileReport::failed(file, &e, e.status());
        }
        Err(source) => {
            let e = LocalError::Read {
                path: file.to_owned(),
                source,
            };
            return FileReport::failed(file, &e, Status::Failed);
        }
    };
    let mut outcome = pipeline.run(&data, declared_mime, specs);
    let published = match &mut outcome.result {
        Ok(thumbs) => {
            let files = variant::files(std::mem::take(&mut thumbs.variants), outcome.video.take());
            publish(dir, files)
        }
        Err(_) => remove_stale(dir).map(|()| vec![]),
    };
    match published {
        Ok(variants) => report(file, &outcome, variants),
        Err(source) => {
            let e = LocalError::Publish {
                dir: dir.to_owned(),
                source,
            };
            FileReport::failed(file, &e, Status::Failed)
        }
    }
}

/// Reads at most `max` bytes: `Ok(Err(size))` when the file is larger, so an upload that
/// grows while being read cannot get past the limit either.
fn read_bounded(file: &Path, max: u64) -> std::io::Result<Result<Vec<u8>, u64>> {
    let f = std::fs::File::open(file)?;
    let size = f.metadata()?.len();
    if size > max {
        return Ok(Err(size));
    }
    let mut data = Vec::with_capacity(size as usize);
    f.take(max + 1).read_to_end(&mut data)?;
    if data.len() as u64 > max {
        return Ok(Err(data.len() as u64));
    }
    Ok(Ok(data))
}

/// Writes every variant into a staging directory, then renames it into place: a reader sees
/// all of a file's variants or none, never a partial set.
fn publish(dir: &Path, files: Vec<variant::VariantFile>) -> std::io::Result<Vec<VariantReport>> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = parent.join(format!(".{name}.staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let file_name = file.file_name();
        std::fs::write(staging.join(&file_name), &file.data)?;
        out.push(VariantReport {
            path: dir.join(&file_name).display().to_string(),
            bytes: file.bytes(),
            name: file.name,
            format: file.format,
            width: file.width,
            height: file.height,
        });
    }
    remove_stale(dir)?;
    std::fs::rename(&staging, dir)?;
    Ok(out)
}

fn remove_stale(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn report(file: &Path, outcome: &Outcome, variants: Vec<VariantReport>) -> FileReport {
    let (error_code, error) = match &outcome.result {
        Ok(_) => (None, None),
        Err(e) => (Some(e.code()), Some(e.to_string())),
    };
    let probe = outcome.probe.as_ref();
    // Orientations 5..=8 swap the axes of the displayed image.
    let swapped = probe.is_some_and(|p| (5..=8).contains(&p.orientation));
    FileReport {
        file: file.display().to_string(),
        status: outcome.status(),
        error_code,
        error,
        kind: probe.map(|p| p.kind.name()),
        mime: probe.map(|p| p.mime.clone()),
        width: probe.map(|p| if swapped { p.height } else { p.width }),
        height: probe.map(|p| if swapped { p.width } else { p.height }),
        frames: probe.map(|p| p.frames),
        orientation: probe.map(|p| p.orientation),
        verdict: outcome.scan.as_ref().map(|s| s.verdict.name()),
        findings: outcome
            .scan
            .iter()
            .flat_map(|s| &s.findings)
            .map(|f| FindingReport {
                rule: f.rule.clone(),
                verdict: f.verdict.name(),
                detail: f.detail.clone(),
            })
            .collect(),
        placeholder: outcome.result.as_ref().ok().map(|t| t.placeholder.clone()),
        variants,
    }
}

/// One output directory per input, named after the file's stem; a repeated stem gets a
/// numeric suffix so two inputs never share a directory.
fn output_dirs(out: &Path, files: &[PathBuf]) -> Vec<PathBuf> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    files
        .iter()
        .map(|f| {
            let stem: String = f
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let stem = if stem.is_empty() {
                "upload".to_string()
            } else {
                stem
            };
            let n = seen.entry(stem.clone()).or_insert(0);
            *n += 1;
            if *n == 1 {
                out.join(stem)
            } else {
                out.join(format!("{stem}-{n}"))
            }
        })
        .collect()
}

/// The MIME type a browser would declare for this file name. Only the declaration the scan
/// checks against: the real type always comes from the bytes.
pub fn mime_from_extension(file: &Path) -> &'static str {
    let ext = file
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" | "jfif" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "tif" | "tiff" => "image/tiff",
        "bmp" => "image/bmp",
        "avif" => "image/avif",
        "heic" => "image/heic",
        "pdf" => "application/pdf",
        "html" | "htm" => "text/html",
        "zip" => "application/zip",
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_dirs_never_collide() {
        let files = [
            PathBuf::from("a/x.jpg"),
            PathBuf::from("b/x.png"),
            PathBuf::from("y.gif"),
        ];
        let dirs = output_dirs(Path::new("out"), &files);
        assert_eq!(
            dirs,
            [
                PathBuf::from("out/x"),
                PathBuf::from("out/x-2"),
                PathBuf::from("out/y")
            ]
        );
    }

    #[test]
    fn declared_mime_follows_the_extension_only() {
        assert_eq!(mime_from_extension(Path::new("p.JPG")), "image/jpeg");
        assert_eq!(
            mime_from_extension(Path::new("noext")),
            "application/octet-stream"
        );
    }
}
