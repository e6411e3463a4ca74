DROP TABLE rule_audit;
DROP TABLE rule_heads;
DROP TABLE rule_versions;
