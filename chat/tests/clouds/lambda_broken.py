"""A function whose module fails at import: its instance fails at init."""

raise ImportError("this function cannot start")


def lambda_handler(event, context):
    return {"statusCode": 200}
