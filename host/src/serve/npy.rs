//! A bounded reader of `.npy` headers, the part of NumPy's format that says
//! what the array is: the length is checked before anything is allocated, the
//! header parsed in one forward pass, and only what an image can be is
//! accepted (uint8, C order, HxW, HxWx1 or HxWx3). Fuzzed (`fuzz/`, target
//! `npy_header`).

/// Longest `.npy` header read, checked against the declared length before
/// anything is allocated. NumPy itself refuses headers over 10 000 bytes unless
/// told otherwise; 64 KiB leaves room for any array it writes.
pub const MAX_NPY_HEADER_BYTES: usize = 64 * 1024;

/// Where a `.npy` header starts and how long it says it is, from the first
/// bytes of the file (10 for version 1, 12 for versions 2 and 3). The length
/// is checked against [`MAX_NPY_HEADER_BYTES`] here, before anything is read.
pub fn npy_header_len(preamble: &[u8]) -> std::result::Result<(usize, usize), String> {
    if preamble.len() < 10 || !preamble.starts_with(b"\x93NUMPY") {
        return Err("not a NumPy array (no .npy magic)".into());
    }
    let (start, len) = match preamble[6] {
        1 => (10, usize::from(u16::from_le_bytes([preamble[8], preamble[9]]))),
        2 | 3 if preamble.len() >= 12 => {
            (12, u32::from_le_bytes([preamble[8], preamble[9], preamble[10], preamble[11]]) as usize)
        }
        2 | 3 => return Err("the .npy preamble is cut short".into()),
        major => return Err(format!("unknown .npy format version {major}")),
    };
    if len > MAX_NPY_HEADER_BYTES {
        return Err(format!("the .npy header claims {len} bytes, over the {MAX_NPY_HEADER_BYTES}-byte cap"));
    }
    Ok((start, len))
}

/// The fields of a `.npy` header that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyLayout {
    /// The array's shape.
    pub shape: Vec<u64>,
}

/// Most dimensions read from a shape (an image has at most 3).
const MAX_NPY_DIMS: usize = 8;

/// Parse a `.npy` header: the Python dict literal NumPy writes,
/// `{'descr': '|u1', 'fortran_order': False, 'shape': (H, W, 3), }`, padded with
/// spaces and a newline. Exactly these three keys; the dtype must be uint8 and the
/// order C. Linear in the header's length, which the caller has capped.
pub fn parse_npy_header(header: &[u8]) -> std::result::Result<NpyLayout, String> {
    let mut p = DictReader { text: header, at: 0 };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    p.expect(b'{')?;
    loop {
        p.skip_space();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.skip_space();
        p.expect(b':')?;
        p.skip_space();
        let duplicate = match key {
            "descr" => descr.replace(p.string()?).is_some(),
            "fortran_order" => fortran.replace(p.boolean()?).is_some(),
            "shape" => shape.replace(p.tuple()?).is_some(),
            other => return Err(format!("the .npy header has an unknown key {other:?}")),
        };
        if duplicate {
            return Err(format!("the .npy header repeats {key:?}"));
        }
        p.skip_space();
        if !p.eat(b',') {
            p.skip_space();
            p.expect(b'}')?;
            break;
        }
    }
    if p.text[p.at..].iter().any(|b| !b.is_ascii_whitespace()) {
        return Err("the .npy header has text after its dict".into());
    }
    let (Some(descr), Some(fortran), Some(shape)) = (descr, fortran, shape) else {
        return Err("the .npy header lacks descr, fortran_order or shape".into());
    };
    if !matches!(descr, "|u1" | "<u1" | ">u1" | "=u1" | "u1") {
        return Err(format!("the array's dtype is {descr:?}, not uint8"));
    }
    if fortran {
        return Err("the array is in Fortran order; write it C-contiguous".into());
    }
    Ok(NpyLayout { shape })
}

/// A cursor over a header's bytes; every step moves forward, so parsing is linear.
struct DictReader<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> DictReader<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|b| b == b' ' || b == b'\t' || b == b'\n' || b == b'\r') {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.peek() == Some(byte);
        self.at += usize::from(hit);
        hit
    }

    fn expect(&mut self, byte: u8) -> std::result::Result<(), String> {
        if self.eat(byte) { Ok(()) } else { Err(format!("the .npy header is malformed at byte {}", self.at)) }
    }

    /// A quoted string without escapes (NumPy writes none in these fields).
    fn string(&mut self) -> std::result::Result<&'a str, String> {
        let quote = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => {
                return Err(format!("the .npy header expects a string at byte {}", self.at));
            }
        };
        let start = self.at + 1;
        let len = self.text[start..].iter().position(|&b| b == quote || b == b'\\').ok_or("an unterminated string")?;
        if self.text[start + len] != quote {
            return Err("the .npy header has an escaped string".into());
        }
        self.at = start + len + 1;
        std::str::from_utf8(&self.text[start..start + len]).map_err(|_| "the .npy header is not UTF-8".into())
    }

    fn boolean(&mut self) -> std::result::Result<bool, String> {
        for (word, value) in [(&b"True"[..], true), (&b"False"[..], false)] {
            if self.text[self.at..].starts_with(word) {
                self.at += word.len();
                return Ok(value);
            }
        }
        Err(format!("the .npy header expects True or False at byte {}", self.at))
    }

    /// `(a, b, c)`, `(a,)` or `()`: whole numbers, at most [`MAX_NPY_DIMS`].
    fn tuple(&mut self) -> std::result::Result<Vec<u64>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            self.skip_space();
            if self.eat(b')') {
                return Ok(dims);
            }
            let start = self.at;
            let mut value: u64 = 0;
            while let Some(digit) = self.peek().filter(u8::is_ascii_digit) {
                value = value
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(digit - b'0')))
                    .ok_or("a .npy dimension overflows")?;
                self.at += 1;
            }
            if self.at == start {
                return Err(format!("the .npy header expects a dimension at byte {}", self.at));
            }
            if dims.len() == MAX_NPY_DIMS {
                return Err(format!("the array has more than {MAX_NPY_DIMS} dimensions"));
            }
            dims.push(value);
            self.skip_space();
            if !self.eat(b',') {
                self.skip_space();
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_headers_parse_only_uint8_c_order() {
        let good = b"{'descr': '|u1', 'fortran_order': False, 'shape': (303, 384, 3), }          \n";
        assert_eq!(parse_npy_header(good).map(|l| l.shape), Ok(vec![303, 384, 3]));
        assert_eq!(parse_npy_header(b"{\"shape\":(2,),\"descr\":\"<u1\",\"fortran_order\":False}").map(|l| l.shape), Ok(vec![2]));
        for bad in [
            &b"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }"[..],
            b"{'descr': '|u1', 'fortran_order': True, 'shape': (1, 1), }",
            b"{'descr': '|u1', 'fortran_order': False, }",
            b"{'descr': '|u1', 'fortran_order': False, 'shape': (1, 1), 'x': 1}",
            b"{'descr': '|u1', 'descr': '|u1', 'fortran_order': False, 'shape': (1, 1)}",
            b"{'descr': '|u1', 'fortran_order': False, 'shape': (99999999999999999999999, 1), }",
            b"{'descr': '|u1', 'fortran_order': False, 'shape': (1, 1), } trailing",
            b"{'descr': '|u1",
            b"",
        ] {
            assert!(parse_npy_header(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn npy_header_length_is_capped_before_reading() {
        let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
        v2.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        assert!(npy_header_len(&v2).is_err());
        let mut v1 = b"\x93NUMPY\x01\x00".to_vec();
        v1.extend_from_slice(&70u16.to_le_bytes());
        assert_eq!(npy_header_len(&v1), Ok((10, 70)));
        assert!(npy_header_len(b"\x93NUMPY\x04\x00\x00\x00").is_err());
        assert!(npy_header_len(b"PK\x03\x04").is_err());
    }
}
