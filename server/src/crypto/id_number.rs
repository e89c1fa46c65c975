//! Resident ID numbers (GB 11643-1999): 17 digits and a check character.

use chrono::NaiveDate;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// Why an ID number was refused, in Chinese for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("应为 18 位（17 位数字加 1 位校验码）")]
    Length,
    #[error("前 17 位须为数字，末位为数字或 X")]
    Characters,
    #[error("出生日期无效")]
    BirthDate,
    #[error("校验码不正确")]
    Checksum,
}

/// A valid, normalized (upper-case X) ID number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdNumber(String);

impl IdNumber {
    pub fn parse(raw: &str) -> Result<Self, IdNumberError> {
        let s: String = raw.trim().to_ascii_uppercase();
        if s.chars().count() != 18 {
            return Err(IdNumberError::Length);
        }
        let chars: Vec<char> = s.chars().collect();
        if !chars[..17].iter().all(char::is_ascii_digit)
            || !(chars[17].is_ascii_digit() || chars[17] == 'X')
        {
            return Err(IdNumberError::Characters);
        }
        let sum: u32 = chars[..17]
            .iter()
            .zip(WEIGHTS)
            .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
            .sum();
        if CHECK[(sum % 11) as usize] != chars[17] {
            return Err(IdNumberError::Checksum);
        }
        let id = Self(s);
        id.birth_date().ok_or(IdNumberError::BirthDate)?;
        Ok(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn birth_date(&self) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").ok()
    }

    /// Odd 17th digit: male.
    pub fn is_male(&self) -> bool {
        self.0.as_bytes()[16] % 2 == 1
    }

    /// `410402********123X`: region kept, birth date hidden.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Masks any stored ID number string the same way.
pub fn mask(id: &str) -> String {
    if id.len() != 18 || !id.is_ascii() {
        return "*".repeat(id.chars().count());
    }
    format!("{}********{}", &id[..6], &id[14..])
}

/// The check character for 17 digits (seed data and tests build valid numbers with it).
pub fn check_char(first17: &str) -> Option<char> {
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17
        .chars()
        .zip(WEIGHTS)
        .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
        .sum();
    Some(CHECK[(sum % 11) as usize])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn checksum_and_mask() {
        let base = "41040219800101123";
        let full = format!("{base}{}", check_char(base).unwrap());
        let id = IdNumber::parse(&full).unwrap();
        assert_eq!(id.masked(), format!("410402********123{}", &full[17..]));
        assert_eq!(id.birth_date(), NaiveDate::from_ymd_opt(1980, 1, 1));
        let wrong = format!("{base}{}", if &full[17..] == "0" { '1' } else { '0' });
        assert_eq!(IdNumber::parse(&wrong), Err(IdNumberError::Checksum));
        assert_eq!(IdNumber::parse("4104021980"), Err(IdNumberError::Length));
        assert_eq!(
            IdNumber::parse("41040219800101123A"),
            Err(IdNumberError::Characters)
        );
        let bad_date = "41040219801301123";
        let bad = format!("{bad_date}{}", check_char(bad_date).unwrap());
        assert_eq!(IdNumber::parse(&bad), Err(IdNumberError::BirthDate));
        // 11010519491231002X is the standard's own example.
        assert!(IdNumber::parse("11010519491231002x").is_ok());
    }
}
