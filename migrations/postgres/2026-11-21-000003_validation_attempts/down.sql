DROP TABLE validation_attempts;
