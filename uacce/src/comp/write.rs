//! [`Encoder`]: compression as a `std::io::Write`.

use std::io::{self, Write};

use super::deflate::DeflateCore;
use super::device::{DeviceChoice, ExecPath};
use super::oneshot::open_first;
use super::{CompressError, Format, Level};

/// Compresses everything written to it into `W`.
///
/// Call [`finish`](Self::finish) at the end: it sends the last request, whose
/// output carries the format's trailer, and returns the writer. Unlike
/// `flate2`, dropping an unfinished encoder does **not** finish the stream,
/// so output cut short by an error never looks complete.
pub struct Encoder<W: Write> {
    core: DeflateCore,
    inner: Option<W>,
    pending: Vec<u8>,
    level: Level,
}

impl<W: Write> std::fmt::Debug for Encoder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("device", &self.core.channel().device())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl<W: Write> Encoder<W> {
    /// An encoder on an automatically chosen device.
    pub fn new(inner: W, format: Format, level: Level) -> Result<Encoder<W>, CompressError> {
        Encoder::with_choice(inner, format, level, &DeviceChoice::Auto)
    }

    /// An encoder on the device `choice` names.
    pub fn with_choice(
        inner: W,
        format: Format,
        level: Level,
        choice: &DeviceChoice,
    ) -> Result<Encoder<W>, CompressError> {
        let core = open_first(choice, format, |dev| DeflateCore::open(dev, format))?;
        let pending = Vec::with_capacity(core.chunk());
        Ok(Encoder {
            core,
            inner: Some(inner),
            pending,
            level,
        })
    }

    /// Where the requests run.
    pub fn exec_path(&self) -> ExecPath {
        self.core.channel().path()
    }

    /// The device's name.
    pub fn device_name(&self) -> &str {
        self.core.channel().device()
    }

    /// The level asked for.
    pub fn level(&self) -> Level {
        self.level
    }

    /// The writer underneath.
    pub fn get_ref(&self) -> Option<&W> {
        self.inner.as_ref()
    }

    fn send(&mut self, last: bool) -> Result<(), CompressError> {
        let Some(inner) = self.inner.as_mut() else {
            return Err(CompressError::Io(io::Error::other(
                "encoder already finished",
            )));
        };
        let mut sink = |bytes: &[u8]| inner.write_all(bytes).map_err(CompressError::Io);
        self.core.push(&self.pending, last, &mut sink)?;
        self.pending.clear();
        Ok(())
    }

    /// Compresses what is left, writes the trailer, flushes, and returns the writer.
    pub fn finish(mut self) -> Result<W, CompressError> {
        self.send(true)?;
        let mut inner = self
            .inner
            .take()
            .ok_or_else(|| io::Error::other("encoder already finished"))?;
        inner.flush()?;
        Ok(inner)
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let chunk = self.core.chunk();
        let room = chunk - self.pending.len();
        let n = room.min(buf.len());
        self.pending.extend_from_slice(&buf[..n]);
        if self.pending.len() == chunk {
            self.send(false)?;
        }
        Ok(n)
    }

    /// Flushes the writer underneath. Bytes still waiting to fill a request
    /// stay buffered: the device has no sync flush.
    fn flush(&mut self) -> io::Result<()> {
        match self.inner.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}
