//! Input and output streams of the tool. A named output that is (or will be)
//! a regular file is written to a temporary file beside it and renamed into
//! place only on success, so a failed run never leaves a file that looks
//! complete. Anything else — a device such as `/dev/null`, a FIFO — is written
//! directly: renaming over it would replace the special file itself.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use crate::cli::CliError;

/// Opens the input: a file, or standard input. Also returns its size if known.
pub fn open_input(path: Option<&Path>) -> Result<(Box<dyn Read>, Option<u64>), CliError> {
    match path {
        None => Ok((Box::new(io::stdin().lock()), None)),
        Some(p) => {
            let f = File::open(p)
                .map_err(|e| CliError::io(format!("cannot open {}", p.display()), e))?;
            let len = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
            Ok((Box::new(f), len))
        }
    }
}

/// Where the output goes.
pub enum Output {
    /// Standard output.
    Stdout(BufWriter<io::Stdout>),
    /// A special file (device, FIFO), written in place.
    Special(BufWriter<File>),
    /// A temporary file that becomes `target` on [`Output::commit`].
    File {
        /// The temporary file.
        tmp: BufWriter<tempfile::NamedTempFile>,
        /// The final name.
        target: PathBuf,
    },
}

impl Output {
    /// Opens the output. Refuses to write binary data to a terminal.
    pub fn open(path: Option<&Path>, binary: bool) -> Result<Output, CliError> {
        match path {
            None => {
                if binary && io::stdout().is_terminal() {
                    return Err(CliError::Usage(
                        "compressed data not written to a terminal; use -o FILE or redirect".into(),
                    ));
                }
                Ok(Output::Stdout(BufWriter::with_capacity(
                    1 << 20,
                    io::stdout(),
                )))
            }
            Some(p) => {
                let p = match std::fs::metadata(p) {
                    Ok(m) if !m.is_file() => {
                        let f = std::fs::OpenOptions::new()
                            .write(true)
                            .open(p)
                            .map_err(|e| CliError::io(format!("cannot open {}", p.display()), e))?;
                        return Ok(Output::Special(BufWriter::with_capacity(1 << 20, f)));
                    }
                    // Replace the file a symlink points to, not the link.
                    Ok(_) => std::fs::canonicalize(p)
                        .map_err(|e| CliError::io(format!("cannot resolve {}", p.display()), e))?,
                    Err(_) => p.to_path_buf(),
                };
                let p = p.as_path();
                let dir = match p.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d,
                    _ => Path::new("."),
                };
                let tmp = tempfile::Builder::new()
                    .prefix(".uacce-partial-")
                    .tempfile_in(dir)
                    .map_err(|e| {
                        CliError::io(format!("cannot create a file in {}", dir.display()), e)
                    })?;
                Ok(Output::File {
                    tmp: BufWriter::with_capacity(1 << 20, tmp),
                    target: p.to_path_buf(),
                })
            }
        }
    }

    /// Makes the output final: flushes, and renames a file into place.
    pub fn commit(self) -> Result<(), CliError> {
        match self {
            Output::Stdout(mut w) => w
                .flush()
                .map_err(|e| CliError::io("cannot write to standard output", e)),
            Output::Special(mut w) => w
                .flush()
                .map_err(|e| CliError::io("cannot write the output", e)),
            Output::File { tmp, target } => {
                let tmp = tmp
                    .into_inner()
                    .map_err(|e| CliError::io("cannot write the output", e.into_error()))?;
                tmp.as_file()
                    .sync_all()
                    .map_err(|e| CliError::io("cannot write the output", e))?;
                tmp.persist(&target).map_err(|e| {
                    CliError::io(format!("cannot create {}", target.display()), e.error)
                })?;
                Ok(())
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(w) => w.write(buf),
            Output::Special(w) => w.write(buf),
            Output::File { tmp, .. } => tmp.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(w) => w.flush(),
            Output::Special(w) => w.flush(),
            Output::File { tmp, .. } => tmp.flush(),
        }
    }
}
