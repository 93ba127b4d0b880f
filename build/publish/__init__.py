"""Publishing a built artifact to a serving store other than the file itself (DynamoDB)."""
