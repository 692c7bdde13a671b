"""DynamoDB, S3 and Secrets Manager access. Every query is scoped by tenant."""
