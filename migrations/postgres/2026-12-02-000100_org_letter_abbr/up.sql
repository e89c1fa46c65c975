-- 发文简称: the characters before 组字 in a letter serial (堂组字〔2026〕第0001号). Empty means
-- derived from the name (中共堂街镇委员会 → 堂).
ALTER TABLE organizations ADD COLUMN letter_abbr TEXT;
