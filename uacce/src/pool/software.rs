//! The software path: flate2, producing exactly the format the device would
//! (a complete member per request), so hardware and software members mix.

use std::io::{Read, Write};

use flate2::Compression;

use super::job::{Job, JobOutput, Op};
use crate::comp::{CompressError, ExecPath, Format, Level};

/// Runs `job` in software.
pub(crate) fn run(job: &Job, level: Level) -> Result<JobOutput, CompressError> {
    match job.op {
        Op::Compress => Ok(JobOutput {
            data: compress(job.format, level, &job.input)?,
            consumed: job.input.len(),
            path: ExecPath::Software,
        }),
        Op::Decompress => {
            let (data, consumed) = decompress(job.format, &job.input, job.max_output)?;
            Ok(JobOutput {
                data,
                consumed,
                path: ExecPath::Software,
            })
        }
    }
}

/// One complete member of `format`.
pub(crate) fn compress(
    format: Format,
    level: Level,
    input: &[u8],
) -> Result<Vec<u8>, CompressError> {
    let out = Vec::with_capacity(input.len() / 2 + 64);
    let c = Compression::new(level.get());
    Ok(match format {
        Format::Gzip => {
            let mut e = flate2::write::GzEncoder::new(out, c);
            e.write_all(input)?;
            e.finish()?
        }
        Format::Zlib => {
            let mut e = flate2::write::ZlibEncoder::new(out, c);
            e.write_all(input)?;
            e.finish()?
        }
        Format::Deflate => {
            let mut e = flate2::write::DeflateEncoder::new(out, c);
            e.write_all(input)?;
            e.finish()?
        }
    })
}

/// Decompresses the first member of `input`: its bytes and the input used.
pub(crate) fn decompress(
    format: Format,
    input: &[u8],
    max_output: usize,
) -> Result<(Vec<u8>, usize), CompressError> {
    let mut out = Vec::new();
    let limit = max_output as u64 + 1;
    let rest: &[u8] = match format {
        Format::Gzip => {
            let mut d = flate2::bufread::GzDecoder::new(input);
            read(&mut d, limit, &mut out, format, input.len())?;
            d.into_inner()
        }
        Format::Zlib => {
            let mut d = flate2::bufread::ZlibDecoder::new(input);
            read(&mut d, limit, &mut out, format, input.len())?;
            d.into_inner()
        }
        Format::Deflate => {
            let mut d = flate2::bufread::DeflateDecoder::new(input);
            read(&mut d, limit, &mut out, format, input.len())?;
            d.into_inner()
        }
    };
    if out.len() > max_output {
        return Err(CompressError::OutputTooSmall {
            capacity: max_output,
        });
    }
    Ok((out, input.len() - rest.len()))
}

fn read(
    d: &mut impl Read,
    limit: u64,
    out: &mut Vec<u8>,
    format: Format,
    len: usize,
) -> Result<(), CompressError> {
    d.take(limit).read_to_end(out).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => CompressError::Truncated {
            format,
            offset: len as u64,
        },
        _ => CompressError::Corrupt {
            format,
            status: 0,
            offset: 0,
        },
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_round_trip_and_report_consumed() {
        let data = b"software fallback ".repeat(1000);
        for format in [Format::Gzip, Format::Zlib, Format::Deflate] {
            let mut z = compress(format, Level::DEFAULT, &data).unwrap();
            let len = z.len();
            z.extend_from_slice(b"next");
            let (back, used) = decompress(format, &z, data.len()).unwrap();
            assert_eq!(back, data);
            assert_eq!(used, len, "{format}");
            assert!(matches!(
                decompress(format, &z, data.len() - 1),
                Err(CompressError::OutputTooSmall { .. })
            ));
            assert!(decompress(format, &z[..len / 2], data.len()).is_err());
        }
    }
}
