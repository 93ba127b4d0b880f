# The Lambda container image with the artifact inside, as the zip package bundles it (docs/docker.md):
#   docker build --target lambda -t latentlens-lambda .
#   docker build -f docker/lambda-bundled.Dockerfile -t latentlens-lambda:bundled .
# The context's artifacts/latentlens.duckdb and its sha256 manifest, as `make build` writes them.
ARG LAMBDA_IMAGE=latentlens-lambda
FROM ${LAMBDA_IMAGE}
COPY artifacts/latentlens.duckdb artifacts/latentlens.duckdb.sha256 /var/task/artifact/
