"""pydantic v2 models for everything that crosses a boundary (HTTP, SQS, DynamoDB, vendors)."""
