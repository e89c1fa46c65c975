//! Reading roster files row by row: CSV (UTF-8, or GB18030 when the bytes are not valid
//! UTF-8, as Excel on a Chinese Windows saves them) and xlsx (the first sheet, streamed
//! cell by cell). Rows are pushed to a [`RowSink`] one at a time, so memory stays bounded
//! by one row (plus, for xlsx, the workbook's shared strings).

use std::io::{self, Read, Seek, SeekFrom};

use calamine::{DataRef, Reader, Xlsx};
use chrono::NaiveDate;

/// One cell as the file typed it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    /// A numeric cell (xlsx only): long digit strings lose digits in one.
    Number(f64),
    /// A date-formatted cell (xlsx only).
    Date(NaiveDate),
    /// Anything else (booleans, errors, times), shown as text in messages.
    Other(String),
}

/// Receives the header, then each data row with its spreadsheet row number (the header
/// is row 1 when it is the first line).
pub trait RowSink {
    fn header(&mut self, row: u64, cells: Vec<Cell>) -> Result<(), SourceError>;
    fn row(&mut self, row: u64, cells: Vec<Cell>) -> Result<(), SourceError>;
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file is not readable as the format; Chinese reason for the user.
    #[error("{0}")]
    Unreadable(String),
    /// The sink stopped the reading (its own error is kept by the sink).
    #[error("stopped")]
    Stopped,
    #[error(transparent)]
    Io(#[from] io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

impl Format {
    /// From a file name's extension.
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Self::Csv),
            "xlsx" => Some(Self::Xlsx),
            _ => None,
        }
    }

    /// From a Content-Type (parameters ignored).
    pub fn from_mime(mime: &str) -> Option<Self> {
        let essence = mime.split(';').next()?.trim().to_ascii_lowercase();
        match essence.as_str() {
            "text/csv" => Some(Self::Csv),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => Some(Self::Xlsx),
            _ => None,
        }
    }
}

pub fn read<R: Read + Seek>(
    format: Format,
    input: R,
    sink: &mut dyn RowSink,
) -> Result<(), SourceError> {
    match format {
        Format::Csv => read_csv(input, sink),
        Format::Xlsx => read_xlsx(input, sink),
    }
}

// --- CSV --------------------------------------------------------------------------------

/// Whether the whole stream is valid UTF-8, checked chunk by chunk.
fn is_utf8<R: Read>(mut input: R) -> io::Result<bool> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut carry = 0usize;
    loop {
        let n = input.read(&mut buf[carry..])?;
        if n == 0 {
            return Ok(carry == 0);
        }
        let filled = carry + n;
        match std::str::from_utf8(&buf[..filled]) {
            Ok(_) => carry = 0,
            // An incomplete sequence at the end of the chunk: keep it for the next one.
            Err(e) if e.error_len().is_none() => {
                let valid = e.valid_up_to();
                buf.copy_within(valid..filled, 0);
                carry = filled - valid;
            }
            Err(_) => return Ok(false),
        }
    }
}

/// Turns GB18030 bytes into UTF-8 as they are read.
struct Gb18030Reader<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    output: Vec<u8>,
    out_start: usize,
    out_end: usize,
    done: bool,
}

impl<R: Read> Gb18030Reader<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            decoder: encoding_rs::GB18030.new_decoder_without_bom_handling(),
            input: vec![0; 16 * 1024],
            // Every GB18030 byte decodes to at most 3 UTF-8 bytes.
            output: vec![0; 48 * 1024 + 16],
            out_start: 0,
            out_end: 0,
            done: false,
        }
    }
}

impl<R: Read> Read for Gb18030Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_start == self.out_end && !self.done {
            let n = self.inner.read(&mut self.input)?;
            let last = n == 0;
            let (_, _, written, _) =
                self.decoder
                    .decode_to_utf8(&self.input[..n], &mut self.output, last);
            self.out_start = 0;
            self.out_end = written;
            self.done = last;
        }
        let n = (self.out_end - self.out_start).min(buf.len());
        buf[..n].copy_from_slice(&self.output[self.out_start..self.out_start + n]);
        self.out_start += n;
        Ok(n)
    }
}

/// Skips a UTF-8 byte order mark (Excel writes one into "CSV UTF-8").
fn skip_bom<R: Read + Seek>(input: &mut R) -> io::Result<()> {
    let mut head = [0u8; 3];
    let mut got = 0;
    while got < 3 {
        let n = input.read(&mut head[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    if got == 3 && head == [0xEF, 0xBB, 0xBF] {
        return Ok(());
    }
    input.seek(SeekFrom::Start(0))?;
    Ok(())
}

/// Remembers the last byte that passed, to tell whether a file ends with a newline.
struct LastByte<R> {
    inner: R,
    last: std::rc::Rc<std::cell::Cell<Option<u8>>>,
}

impl<R: Read> Read for LastByte<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.last.set(Some(buf[n - 1]));
        }
        Ok(n)
    }
}

fn read_csv<R: Read + Seek>(mut input: R, sink: &mut dyn RowSink) -> Result<(), SourceError> {
    let utf8 = is_utf8(&mut input)?;
    input.seek(SeekFrom::Start(0))?;
    let text: Box<dyn Read + '_> = if utf8 {
        skip_bom(&mut input)?;
        Box::new(input)
    } else {
        Box::new(Gb18030Reader::new(input))
    };
    let last = std::rc::Rc::new(std::cell::Cell::new(None));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(LastByte {
            inner: text,
            last: last.clone(),
        });
    let mut record = csv::StringRecord::new();
    let mut seen_header = false;
    // The csv crate skips blank lines without counting them in a record's position, so a
    // record's line is worked out from the position after it (the newlines read so far)
    // less its own: one row is held back to know whether a newline ended it.
    let mut pending: Option<(u64, Vec<Cell>)> = None;
    let mut emit = |line: u64, cells: Vec<Cell>, seen: &mut bool| -> Result<(), SourceError> {
        if *seen {
            sink.row(line, cells)
        } else {
            *seen = true;
            sink.header(line, cells)
        }
    };
    loop {
        let more = match reader.read_record(&mut record) {
            Ok(more) => more,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(SourceError::Unreadable(format!(
                    "CSV 文件第 {line} 行无法解析：{}",
                    match e.kind() {
                        csv::ErrorKind::Io(_) => "读取失败",
                        csv::ErrorKind::Utf8 { .. } => "编码无效",
                        _ => "格式错误（请检查引号是否成对）",
                    }
                )));
            }
        };
        if !more {
            if let Some((after, cells)) = pending.take() {
                let ended_by_newline = last.get() == Some(b'\n');
                emit(after - u64::from(ended_by_newline), cells, &mut seen_header)?;
            }
            return Ok(());
        }
        if let Some((after, cells)) = pending.take() {
            emit(after - 1, cells, &mut seen_header)?;
        }
        let embedded: u64 = record
            .iter()
            .map(|f| f.bytes().filter(|b| *b == b'\n').count() as u64)
            .sum();
        let after = reader.position().line().saturating_sub(embedded).max(1);
        let cells: Vec<Cell> = record
            .iter()
            .map(|s| {
                let s = s.trim();
                if s.is_empty() {
                    Cell::Empty
                } else {
                    Cell::Text(s.to_string())
                }
            })
            .collect();
        if cells.iter().all(|c| *c == Cell::Empty) {
            continue;
        }
        pending = Some((after, cells));
    }
}

// --- xlsx -------------------------------------------------------------------------------

fn cell_of(value: DataRef<'_>) -> Cell {
    match value {
        DataRef::Empty => Cell::Empty,
        DataRef::String(s) => text_cell(&s),
        DataRef::SharedString(s) => text_cell(s),
        DataRef::Int(i) => Cell::Number(i as f64),
        DataRef::Float(f) => Cell::Number(f),
        DataRef::DateTime(d) => match d.as_datetime() {
            Some(dt) if d.is_datetime() => Cell::Date(dt.date()),
            _ => Cell::Number(d.as_f64()),
        },
        DataRef::DateTimeIso(s) => match s.get(..10).and_then(|d| d.parse().ok()) {
            Some(date) => Cell::Date(date),
            None => Cell::Other(s),
        },
        DataRef::DurationIso(s) => Cell::Other(s),
        DataRef::Bool(b) => Cell::Other(b.to_string()),
        DataRef::Error(e) => Cell::Other(format!("{e:?}")),
    }
}

fn text_cell(s: &str) -> Cell {
    let s = s.trim();
    if s.is_empty() {
        Cell::Empty
    } else {
        Cell::Text(s.to_string())
    }
}

fn read_xlsx<R: Read + Seek>(input: R, sink: &mut dyn RowSink) -> Result<(), SourceError> {
    let unreadable = |e: calamine::XlsxError| {
        tracing::debug!(error = %e, "unreadable xlsx");
        SourceError::Unreadable("无法读取 Excel 文件，请确认是 .xlsx 格式且未损坏。".into())
    };
    let mut book: Xlsx<R> = calamine::open_workbook_from_rs(input).map_err(unreadable)?;
    let Some(sheet) = book.sheet_names().first().cloned() else {
        return Err(SourceError::Unreadable("Excel 文件中没有工作表。".into()));
    };
    let mut cells = book.worksheet_cells_reader(&sheet).map_err(unreadable)?;
    let mut current: Option<u32> = None;
    let mut row: Vec<Cell> = Vec::new();
    let mut seen_header = false;
    let mut flush = |index: u32, row: Vec<Cell>, seen: &mut bool| -> Result<(), SourceError> {
        if row.iter().all(|c| *c == Cell::Empty) {
            return Ok(());
        }
        let number = u64::from(index) + 1;
        if *seen {
            sink.row(number, row)
        } else {
            *seen = true;
            sink.header(number, row)
        }
    };
    while let Some(cell) = cells.next_cell().map_err(unreadable)? {
        let (r, c) = cell.get_position();
        if current != Some(r) {
            if let Some(prev) = current {
                flush(prev, std::mem::take(&mut row), &mut seen_header)?;
            }
            current = Some(r);
        }
        let c = usize::try_from(c).unwrap_or(usize::MAX);
        // A sheet claiming a column past XFD (16384) is not a roster.
        if c >= 16_384 {
            return Err(SourceError::Unreadable("Excel 文件的列数超出范围。".into()));
        }
        if row.len() <= c {
            row.resize(c + 1, Cell::Empty);
        }
        row[c] = cell_of(cell.get_value().clone());
    }
    if let Some(prev) = current {
        flush(prev, row, &mut seen_header)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::io::Cursor;

    #[derive(Default)]
    struct Collect(Vec<(u64, Vec<Cell>)>);

    impl RowSink for Collect {
        fn header(&mut self, row: u64, cells: Vec<Cell>) -> Result<(), SourceError> {
            self.0.push((row, cells));
            Ok(())
        }
        fn row(&mut self, row: u64, cells: Vec<Cell>) -> Result<(), SourceError> {
            self.0.push((row, cells));
            Ok(())
        }
    }

    #[test]
    fn utf8_check_spans_chunks() {
        let text = "姓名".repeat(40_000);
        assert!(is_utf8(Cursor::new(text.as_bytes())).unwrap());
        let (gb, _, _) = encoding_rs::GB18030.encode("姓名,张三");
        assert!(!is_utf8(Cursor::new(gb.to_vec())).unwrap());
    }

    #[test]
    fn csv_in_gb18030_and_with_a_bom() {
        let text = "姓名,民族\n张三,汉族\n\n李四, 回族 \n\"王\n五\",壮族\n赵六,汉族";
        let (gb, _, _) = encoding_rs::GB18030.encode(text);
        for bytes in [
            gb.to_vec(),
            [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat(),
        ] {
            let mut sink = Collect::default();
            read_csv(Cursor::new(bytes), &mut sink).unwrap();
            assert_eq!(
                sink.0,
                vec![
                    (
                        1,
                        vec![Cell::Text("姓名".into()), Cell::Text("民族".into())]
                    ),
                    (
                        2,
                        vec![Cell::Text("张三".into()), Cell::Text("汉族".into())]
                    ),
                    (
                        4,
                        vec![Cell::Text("李四".into()), Cell::Text("回族".into())]
                    ),
                    (
                        5,
                        vec![Cell::Text("王\n五".into()), Cell::Text("壮族".into())]
                    ),
                    (
                        7,
                        vec![Cell::Text("赵六".into()), Cell::Text("汉族".into())]
                    ),
                ]
            );
        }
    }

    #[test]
    fn formats_from_names_and_types() {
        assert_eq!(
            Format::from_path(std::path::Path::new("名册.XLSX")),
            Some(Format::Xlsx)
        );
        assert_eq!(Format::from_path(std::path::Path::new("a.xls")), None);
        assert_eq!(
            Format::from_mime("text/csv; charset=gb18030"),
            Some(Format::Csv)
        );
    }

    #[test]
    fn garbage_is_not_an_xlsx() {
        let mut sink = Collect::default();
        assert!(matches!(
            read_xlsx(Cursor::new(b"not a zip".to_vec()), &mut sink),
            Err(SourceError::Unreadable(_))
        ));
    }
}
