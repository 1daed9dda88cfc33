//! Read-ahead between two stages of a stream: one thread reads (in a pull:
//! the network, hashing and writing the blob) while the caller works on the
//! bytes (decompressing, unpacking), with a bounded queue between them so
//! memory stays flat whatever the stream's size.

use std::io::{self, Read};

use crate::io::read_full;

/// The size of the chunks read ahead (and of file writes when unpacking).
pub(crate) const CHUNK: usize = 256 << 10;
/// Chunks in flight between two stages: 8 MiB, enough to ride out a run of
/// small files on one side and a large file on the other, small enough that
/// a pull's memory stays flat whatever the layer size.
const DEPTH: usize = 32;

/// Runs `f` over `reader` while another thread does the reading (in a pull:
/// the network, hashing and writing the blob), so that work overlaps with
/// what `f` does with the bytes. Returns `f`'s result and the reader, which
/// has been read to its end unless `f` stopped early or reading failed.
pub fn with_readahead<R: Read + Send, T>(reader: R, f: impl FnOnce(&mut ChannelReader) -> T) -> (T, io::Result<R>) {
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(DEPTH);
        let reading = s.spawn(move || -> io::Result<R> {
            let mut reader = reader;
            loop {
                let mut buf = vec![0u8; CHUNK];
                match read_full(&mut reader, &mut buf) {
                    Ok(0) => return Ok(reader),
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.send(Ok(buf)).is_err() {
                            return Ok(reader);
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                        return Err(e);
                    }
                }
            }
        });
        let mut channel = ChannelReader { rx, buf: Vec::new(), pos: 0 };
        let out = f(&mut channel);
        drop(channel);
        let reader = reading.join().unwrap_or_else(|_| Err(io::Error::other("the reading thread panicked")));
        (out, reader)
    })
}

/// Reads the chunks another thread sends.
pub struct ChannelReader {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(Ok(b)) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
