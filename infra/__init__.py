"""Deploy tooling: from a built artifact to a live API Gateway URL (see infra/README.md).

Not part of the Lambda package and not imported by `handler`; it only reads latentlens.handler.schema,
the one owner of the artifact's naming rules.
"""
