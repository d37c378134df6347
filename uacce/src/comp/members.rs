//! Independent gzip members on a pool: the input is cut into chunks of one
//! pool request each, many chunks are in flight at once, and the members are
//! written in input order. Each member is complete on its own (header, data,
//! trailer), so a member that fell back to software sits between hardware
//! members without any seam.

use std::collections::VecDeque;

use super::{CompressError, ExecPath, Format};
use crate::pool::{Job, Op, Pool, PoolError, Ticket};

/// Largest chunk per member (bounded by the pool's request size).
const MAX_CHUNK: usize = 1 << 20;

pub(crate) struct MemberPipe {
    pool: Pool,
    format: Format,
    chunk: usize,
    window: usize,
    pending: Vec<u8>,
    in_flight: VecDeque<Ticket>,
    submitted: u64,
    software: bool,
}

impl MemberPipe {
    pub fn new(pool: &Pool, format: Format) -> Result<MemberPipe, CompressError> {
        if format != Format::Gzip {
            return Err(CompressError::MembersNeedGzip { format });
        }
        let chunk = pool.max_request().min(MAX_CHUNK);
        let window = (pool.lane_depth().max(1) * pool.queues(Op::Compress).max(1)).clamp(2, 64);
        Ok(MemberPipe {
            pool: pool.clone(),
            format,
            chunk,
            window,
            pending: Vec::with_capacity(chunk),
            in_flight: VecDeque::new(),
            submitted: 0,
            software: false,
        })
    }

    /// The input size of one member.
    pub fn chunk(&self) -> usize {
        self.chunk
    }

    /// Software if any member so far fell back, else the pool's device path.
    pub fn path(&self) -> ExecPath {
        if self.software {
            ExecPath::Software
        } else {
            self.pool.exec_path(Op::Compress)
        }
    }

    /// Forgets the current stream (results still in flight are abandoned).
    pub fn reset(&mut self) {
        self.pending.clear();
        self.in_flight.clear();
        self.submitted = 0;
        self.software = false;
    }

    /// Takes `data`, sending every full chunk.
    pub fn push(
        &mut self,
        mut data: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), CompressError>,
    ) -> Result<(), CompressError> {
        while !data.is_empty() {
            let n = (self.chunk - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.pending.len() == self.chunk {
                self.send(sink)?;
            }
        }
        Ok(())
    }

    fn send(
        &mut self,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), CompressError>,
    ) -> Result<(), CompressError> {
        while self.in_flight.len() >= self.window {
            self.collect_one(sink)?;
        }
        let input = std::mem::replace(&mut self.pending, Vec::with_capacity(self.chunk));
        let ticket = self
            .pool
            .submit(Job::compress(self.format, input))
            .map_err(from_pool)?;
        self.in_flight.push_back(ticket);
        self.submitted += 1;
        Ok(())
    }

    fn collect_one(
        &mut self,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), CompressError>,
    ) -> Result<(), CompressError> {
        if let Some(t) = self.in_flight.pop_front() {
            let out = t.wait().map_err(from_pool)?;
            self.software |= out.path == ExecPath::Software;
            sink(&out.data)?;
        }
        Ok(())
    }

    /// Sends the rest (an empty stream is one empty member) and writes every
    /// member still in flight.
    pub fn finish(
        &mut self,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), CompressError>,
    ) -> Result<(), CompressError> {
        if !self.pending.is_empty() || self.submitted == 0 {
            self.send(sink)?;
        }
        while !self.in_flight.is_empty() {
            self.collect_one(sink)?;
        }
        Ok(())
    }
}

/// A pool error as a compression error (data errors keep their own kind).
pub(crate) fn from_pool(e: PoolError) -> CompressError {
    match e {
        PoolError::Compress(inner) => *inner,
        other => CompressError::Pool(Box::new(other)),
    }
}
