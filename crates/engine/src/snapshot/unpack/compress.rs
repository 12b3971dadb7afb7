//! Decompression of layer blobs, chosen by their magic bytes.

use std::io::{self, BufRead, Read};

/// Wraps `reader` in a decompressor chosen by its magic bytes: gzip, zstd, or none (plain tar).
pub fn decompress<'a, R: BufRead + 'a>(mut reader: R) -> io::Result<Box<dyn Read + 'a>> {
    // Read rather than peek: `fill_buf` may legally return fewer than 4 bytes, so we
    // consume the magic and put it back in front of the stream.
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < magic.len() {
        match reader.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let magic = &magic[..n];
    let stream = io::Cursor::new(magic.to_vec()).chain(reader);
    let is_gzip = magic.starts_with(&[0x1f, 0x8b]);
    // RFC 8878: a frame is either a zstd frame or a skippable frame (0x184D2A5?).
    let is_zstd = magic == [0x28, 0xb5, 0x2f, 0xfd]
        || (n == 4 && magic[0] & 0xf0 == 0x50 && magic[1..] == [0x2a, 0x4d, 0x18]);
    Ok(if is_gzip {
        // Multi-member: pigz and concatenating tools emit several gzip members.
        Box::new(flate2::bufread::MultiGzDecoder::new(stream))
    } else if is_zstd {
        Box::new(zstd::stream::read::Decoder::with_buffer(stream)?)
    } else {
        Box::new(stream)
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::unpack_layer;
    use super::*;
    use std::fs;
    use std::io::{BufReader, Write};

    #[test]
    fn decompress_detects_gzip_zstd_and_plain() {
        let mut l = Layer::new();
        l.file("hello", b"world");
        let tar = l.finish();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&tar[..], 3).unwrap();
        for (what, data) in [("gzip", &gz), ("zstd", &zst), ("plain", &tar)] {
            // A 1-byte BufReader makes fill_buf short: the magic must still be detected.
            for cap in [1, 8192] {
                let mut out = Vec::new();
                decompress(BufReader::with_capacity(cap, &data[..]))
                    .unwrap()
                    .read_to_end(&mut out)
                    .unwrap();
                assert_eq!(out, tar, "{what} cap {cap}");
            }
            let sb = Sandbox::new();
            let reader = decompress(BufReader::new(&data[..])).unwrap();
            unpack_layer(reader, &sb.dest).unwrap();
            assert_eq!(fs::read(sb.p("hello")).unwrap(), b"world", "{what}");
        }
        // Concatenated gzip members, as pigz and layer-appending tools produce.
        let half = tar.len() / 2;
        let mut multi = Vec::new();
        for part in [&tar[..half], &tar[half..]] {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(part).unwrap();
            multi.extend(e.finish().unwrap());
        }
        let mut out = Vec::new();
        decompress(&multi[..])
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, tar);
        // Empty and tiny inputs pass through untouched.
        for tiny in [&b""[..], &b"\x1f"[..], &b"ab"[..]] {
            let mut out = Vec::new();
            decompress(tiny).unwrap().read_to_end(&mut out).unwrap();
            assert_eq!(out, tiny);
        }
    }
}
