//! [`Encoder`]: compression as a `std::io::Write`.

use std::io::{self, Write};

use super::deflate::DeflateCore;
use super::device::{DeviceChoice, ExecPath};
use super::members::MemberPipe;
use super::oneshot::open_first;
use super::{CompressError, Format, Level};
use crate::pool::{Fallback, Pool};

enum Engine {
    /// One queue, one stream: a single member, one request at a time.
    Stream(Box<DeflateCore>),
    /// Independent gzip members on a pool, many in flight.
    Members(MemberPipe),
}

/// Compresses everything written to it into `W`.
///
/// Call [`finish`](Self::finish) at the end: it sends the last request, whose
/// output carries the format's trailer, and returns the writer. Unlike
/// `flate2`, dropping an unfinished encoder does **not** finish the stream,
/// so output cut short by an error never looks complete.
///
/// Two shapes of output:
/// * [`new`](Self::new) / [`with_choice`](Self::with_choice): one member (one
///   deflate stream), the default and the only shape for zlib and raw
///   deflate. The stream's requests depend on each other, so one is in
///   flight at a time.
/// * [`with_pool`](Self::with_pool): gzip only, one independent member per
///   chunk, many chunks in flight over the pool's queues. `gzip -d` and
///   multi-member readers accept it; readers that stop after the first
///   member do not, which is why it is opt-in.
pub struct Encoder<W: Write> {
    engine: Engine,
    inner: Option<W>,
    pending: Vec<u8>,
    level: Level,
}

impl<W: Write> std::fmt::Debug for Encoder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("device", &self.device_name())
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
            engine: Engine::Stream(Box::new(core)),
            inner: Some(inner),
            pending,
            level,
        })
    }

    /// An encoder writing independent gzip members, one per pool request,
    /// with many requests in flight (see the type's docs). Fallback and
    /// timeouts follow the pool's configuration.
    pub fn with_pool(
        inner: W,
        format: Format,
        level: Level,
        pool: &Pool,
    ) -> Result<Encoder<W>, CompressError> {
        let pipe = MemberPipe::new(pool, format)?;
        Ok(Encoder {
            pending: Vec::with_capacity(pipe.chunk()),
            engine: Engine::Members(pipe),
            inner: Some(inner),
            level,
        })
    }

    /// What happens when the device fails mid-stream (single-member
    /// encoders; default [`Fallback::Fail`]). With [`Fallback::Software`] the
    /// stream continues in software from the last request the device
    /// finished, still as one valid member (see `comp/soft.rs`).
    pub fn set_fallback(&mut self, fallback: Fallback) {
        if let Engine::Stream(core) = &mut self.engine {
            core.set_fallback(fallback, self.level);
        }
    }

    /// Where the requests run: [`ExecPath::Software`] once any part of the
    /// stream fell back.
    pub fn exec_path(&self) -> ExecPath {
        match &self.engine {
            Engine::Stream(core) => core.path(),
            Engine::Members(m) => m.path(),
        }
    }

    /// The device's name (`"pool"` for a pooled encoder).
    pub fn device_name(&self) -> &str {
        match &self.engine {
            Engine::Stream(core) => core.channel().device(),
            Engine::Members(_) => "pool",
        }
    }

    /// The level asked for.
    pub fn level(&self) -> Level {
        self.level
    }

    /// The writer underneath.
    pub fn get_ref(&self) -> Option<&W> {
        self.inner.as_ref()
    }

    fn chunk(&self) -> usize {
        match &self.engine {
            Engine::Stream(core) => core.chunk(),
            Engine::Members(m) => m.chunk(),
        }
    }

    fn send(&mut self, last: bool) -> Result<(), CompressError> {
        let Some(inner) = self.inner.as_mut() else {
            return Err(CompressError::Io(io::Error::other(
                "encoder already finished",
            )));
        };
        let mut sink = |bytes: &[u8]| inner.write_all(bytes).map_err(CompressError::Io);
        match &mut self.engine {
            Engine::Stream(core) => core.push(&self.pending, last, &mut sink)?,
            Engine::Members(m) => {
                m.push(&self.pending, &mut sink)?;
                if last {
                    m.finish(&mut sink)?;
                }
            }
        }
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
        let chunk = self.chunk();
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
