//! CRC-32 (IEEE 802.3, zlib's `crc32`), fed in pieces: OKX checksums its books with it. Eight
//! bytes a step ("slicing by 8": eight tables, one per byte position), then byte by byte.

const TABLES: [[u32; 256]; 8] = {
    let mut tables = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        tables[0][i] = c;
        i += 1;
    }
    let mut t = 1;
    while t < 8 {
        let mut i = 0;
        while i < 256 {
            let c = tables[t - 1][i];
            tables[t][i] = tables[0][(c & 0xFF) as usize] ^ (c >> 8);
            i += 1;
        }
        t += 1;
    }
    tables
};

pub struct Crc32(u32);

impl Crc32 {
    pub fn new() -> Self {
        Crc32(0xFFFF_FFFF)
    }

    #[inline]
    pub fn update(&mut self, bytes: &[u8]) {
        let t = &TABLES;
        let mut c = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let lo = c ^ u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let hi = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
            c = t[7][(lo & 0xFF) as usize]
                ^ t[6][((lo >> 8) & 0xFF) as usize]
                ^ t[5][((lo >> 16) & 0xFF) as usize]
                ^ t[4][(lo >> 24) as usize]
                ^ t[3][(hi & 0xFF) as usize]
                ^ t[2][((hi >> 8) & 0xFF) as usize]
                ^ t[1][((hi >> 16) & 0xFF) as usize]
                ^ t[0][(hi >> 24) as usize];
        }
        for &b in chunks.remainder() {
            c = t[0][((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
        }
        self.0 = c;
    }

    pub fn finish(&self) -> u32 {
        self.0 ^ 0xFFFF_FFFF
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crc(bytes: &[u8]) -> u32 {
        let mut c = Crc32::new();
        c.update(bytes);
        c.finish()
    }

    #[test]
    fn zlibs_check_values() {
        // zlib.crc32(b"") == 0, zlib.crc32(b"123456789") == 0xCBF43926
        assert_eq!(crc(b""), 0);
        assert_eq!(crc(b"123456789"), 0xCBF4_3926);
        // fed in pieces == fed at once
        let mut c = Crc32::new();
        c.update(b"3366.1:7.5");
        c.update(b":");
        c.update(b"3366.8:9");
        assert_eq!(c.finish(), crc(b"3366.1:7.5:3366.8:9"));
        // every length around the 8-byte steps, against the byte-by-byte definition
        let text: Vec<u8> = (0..100u32).map(|i| (i * 37 % 251) as u8).collect();
        for n in 0..text.len() {
            let mut slow = 0xFFFF_FFFFu32;
            for &b in &text[..n] {
                slow = TABLES[0][((slow ^ b as u32) & 0xFF) as usize] ^ (slow >> 8);
            }
            assert_eq!(crc(&text[..n]), slow ^ 0xFFFF_FFFF, "{n}");
        }
    }
}
