DROP TABLE migrant_records;
DROP TABLE transfer_letters;
DROP TABLE transfer_steps;
DROP TABLE transfers;
