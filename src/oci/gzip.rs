//! Gzip for layers: the same bytes for the same input on every run, and no time spent trying
//! to compress what cannot be compressed.
//!
//! Layers often hold data that is already compressed (archives, JARs, images, the random bytes
//! of a benchmark): deflate at level 6 crawls through it (about 35 MB/s) to save nothing. Each
//! 64 KiB chunk whose bytes look random (order-0 entropy above 7.98 bits a byte) is written as
//! deflate's stored blocks, by hand; the rest is compressed at level 6. The choice depends only
//! on the chunk's bytes and chunks are cut at fixed offsets, so the output is a function of the
//! input alone: one standard gzip member (no name, time 0), which every gzip reader takes.
//!
//! Why by hand: a stored block may follow any block that ends on a byte boundary, which a sync
//! flush gives; the compressor is then reset, so that its back-references never reach into
//! bytes it did not see. (Changing deflate's level mid-stream, the other way, fails in the
//! zlib-rs binding after a flush.)

use std::io::{self, Write};

use flate2::{Compress, Compression, FlushCompress, Status};

const CHUNK: usize = 64 << 10;
/// Bits a byte above which a chunk is stored: random data measures 7.997 over 64 KiB,
/// deflate's own output of executables 7.95 to 7.99; executables and text 4 to 6.5.
const STORED_ABOVE: f64 = 7.98;
const LEVEL: u32 = 6;

/// A gzip writer: `write` what is to be compressed, then `finish`.
pub struct GzipWriter<W: Write> {
    inner: W,
    deflate: Compress,
    crc: flate2::Crc,
    /// Input not yet a whole chunk.
    pending: Vec<u8>,
    out: Vec<u8>,
    /// Whether the compressor took input since it was made or reset (and so must be flushed
    /// before a stored block).
    fed: bool,
}

impl<W: Write> GzipWriter<W> {
    pub fn new(mut inner: W) -> io::Result<Self> {
        // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255 (unknown): nothing of the machine.
        inner.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255])?;
        Ok(Self {
            inner,
            deflate: Compress::new(Compression::new(LEVEL), false),
            crc: flate2::Crc::new(),
            pending: Vec::with_capacity(CHUNK),
            out: Vec::with_capacity(CHUNK + 1024),
            fed: false,
        })
    }

    /// Ends the stream (the gzip trailer: CRC-32 and size) and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        let last = std::mem::take(&mut self.pending);
        self.chunk(&last)?;
        self.deflate_all(&[], FlushCompress::Finish)?;
        self.inner.write_all(&self.crc.sum().to_le_bytes())?;
        self.inner.write_all(&self.crc.amount().to_le_bytes())?;
        Ok(self.inner)
    }

    fn chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.crc.update(chunk);
        if !looks_random(chunk) {
            self.fed |= !chunk.is_empty();
            return self.deflate_all(chunk, FlushCompress::None);
        }
        if self.fed {
            // Ends the compressor's output on a byte boundary, with all its input written.
            self.deflate_all(&[], FlushCompress::Sync)?;
            self.deflate.reset();
            self.fed = false;
        }
        for block in chunk.chunks(usize::from(u16::MAX)) {
            // BFINAL 0, BTYPE 00 (stored), padded to the byte; then LEN and its complement.
            let len = block.len() as u16;
            self.inner.write_all(&[0])?;
            self.inner.write_all(&len.to_le_bytes())?;
            self.inner.write_all(&(!len).to_le_bytes())?;
            self.inner.write_all(block)?;
        }
        Ok(())
    }

    /// Runs deflate over `input` until it has taken all of it (and, when finishing or flushing,
    /// until it has written everything out).
    fn deflate_all(&mut self, mut input: &[u8], flush: FlushCompress) -> io::Result<()> {
        loop {
            self.out.clear();
            let before = self.deflate.total_in();
            let status = self
                .deflate
                .compress_vec(input, &mut self.out, flush)
                .map_err(io::Error::other)?;
            input = &input[(self.deflate.total_in() - before) as usize..];
            self.inner.write_all(&self.out)?;
            let out_full = self.out.len() == self.out.capacity();
            let done = match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                _ => input.is_empty() && !out_full,
            };
            if done {
                return Ok(());
            }
        }
    }
}

impl<W: Write> Write for GzipWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while !rest.is_empty() {
            let take = (CHUNK - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == CHUNK {
                let chunk = std::mem::take(&mut self.pending);
                self.chunk(&chunk)?;
                self.pending = chunk;
                self.pending.clear();
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Whether the bytes' order-0 entropy says deflate would gain nothing on them.
fn looks_random(chunk: &[u8]) -> bool {
    if chunk.len() < 4096 {
        return false;
    }
    let mut counts = [0u32; 256];
    for &b in chunk {
        counts[b as usize] += 1;
    }
    let n = chunk.len() as f64;
    let bits: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    bits > STORED_ABOVE
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gzip(data: &[u8], write_size: usize) -> Vec<u8> {
        let mut writer = GzipWriter::new(Vec::new()).unwrap();
        for part in data.chunks(write_size) {
            writer.write_all(part).unwrap();
        }
        writer.finish().unwrap()
    }

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// Text, random bytes, then text again: both kinds of chunk and both switches.
    fn mixed() -> Vec<u8> {
        let text: Vec<u8> = (0..300_000)
            .flat_map(|i: u32| format!("line {i} of a log file\n").into_bytes())
            .take(400_000)
            .collect();
        let mut random = vec![0u8; 300_000];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut random);
        [text.clone(), random, text].concat()
    }

    #[test]
    fn any_gzip_reader_gets_the_bytes_back() {
        for data in [Vec::new(), b"short".to_vec(), mixed()] {
            assert_eq!(gunzip(&gzip(&data, 8192)), data);
        }
    }

    #[test]
    fn the_same_input_is_the_same_output_however_it_is_written() {
        let data = mixed();
        let whole = gzip(&data, data.len());
        assert_eq!(gzip(&data, 1000), whole);
        assert_eq!(gzip(&data, 65536 + 7), whole);
        // The header names no file and no time.
        assert_eq!(&whole[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    }

    #[test]
    fn random_bytes_are_stored_and_text_is_compressed() {
        let mut random = vec![0u8; 1 << 20];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut random);
        let stored = gzip(&random, 8192);
        // Stored blocks of 65535 bytes, each behind its 5-byte header, right after the gzip
        // header (deflate at level 6 would cut blocks of its own sizes).
        assert!(stored.len() < random.len() + 200, "{}", stored.len());
        assert_eq!(&stored[10..15], &[0, 0xff, 0xff, 0, 0]);
        assert_eq!(&stored[15..15 + 65535], &random[..65535]);
        assert!(looks_random(&random[..CHUNK]));
        // Already compressed data is stored too.
        assert!(looks_random(&stored[CHUNK..2 * CHUNK]));
        let text = mixed()[..400_000].to_vec();
        assert!(!looks_random(&text[..CHUNK]));
        let compressed = gzip(&text, 8192);
        assert!(compressed.len() < text.len() / 5);
        assert!(
            !looks_random(&compressed[..compressed.len().min(CHUNK)]) || compressed.len() < 4096
        );
    }
}
