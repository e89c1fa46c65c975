ALTER TABLE members DROP COLUMN note;
ALTER TABLE members DROP COLUMN probation_extension_months;
