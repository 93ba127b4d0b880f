# LatentLens images, one Dockerfile with three targets (docs/docker.md):
#   build                the offline build and the MLflow UI (scikit-learn, Surprise, MLflow, ...)
#   lambda               the Lambda container image: AWS's runtime interface client in front of the Mangum handler
#                        (docker/lambda-bundled.Dockerfile adds the artifact, as the zip package bundles it)
#   api (the default)    the page and the lookup API: `latentlens serve` (uvicorn) over an artifact
# compose.yaml builds `build` and `api`. Plain Dockerfile syntax: BuildKit, the classic builder and docker-compose
# 1.29 all build it (the classic builder runs every stage above the target, so the default comes last).
#
# BASE_IMAGE: any Debian-like image with Python 3.11+ and its venv module (python3 -m venv).
# The package index: PyPI by default; PIP_INDEX_URL for a mirror, or a wheelhouse with
# PIP_FIND_LINKS=<dir or URL> and PIP_NO_INDEX=1. Every install is pinned by constraints.txt.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/latentlens \
    PATH=/opt/latentlens/bin:$PATH
ARG PIP_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
COPY constraints.txt /opt/src/
# pip and setuptools at their pins (a 3.11 venv starts with setuptools 65.5, which has known CVEs), as `make install`
RUN python3 -m venv /opt/latentlens \
 && pip install --quiet -c /opt/src/constraints.txt --upgrade pip setuptools

# each image's dependencies as pyproject.toml names them (docker/requirements.py EXTRA...), one file per image: an
# image copies its file and installs it before the code, so a change to the code or to another part of
# pyproject.toml leaves the layer of its dependencies as it was (a copied file is compared by its content)
FROM base AS requirements
COPY pyproject.toml docker/requirements.py /opt/src/
RUN cd /opt/src && mkdir /opt/requirements \
 && python3 requirements.py build serve > /opt/requirements/build.txt \
 && python3 requirements.py > /opt/requirements/lambda.txt \
 && python3 requirements.py serve > /opt/requirements/api.txt

# the project's wheel, built once for every target
FROM base AS wheel
ARG PIP_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
COPY pyproject.toml README.md /opt/src/
COPY latentlens /opt/src/latentlens
COPY build /opt/src/build
COPY handler /opt/src/handler
# PIP_CONSTRAINT reaches the isolated environment pip builds in: the build backend at its pin too
RUN PIP_CONSTRAINT=/opt/src/constraints.txt pip wheel --quiet --no-deps --wheel-dir /opt/dist /opt/src

# a user without a login or write access to the code; /app/artifacts is where the build writes and the API reads
FROM base AS runtime
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/latentlens --shell /usr/sbin/nologin latentlens \
 && mkdir -p /app/artifacts && chown latentlens:latentlens /app/artifacts
WORKDIR /app

FROM runtime AS build
ARG PIP_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
# the `deep` extra (PyTorch) is left out: the build skips that one model and says so
COPY --from=requirements /opt/requirements/build.txt /opt/src/requirements.txt
RUN pip install --quiet -c /opt/src/constraints.txt -r /opt/src/requirements.txt
COPY --from=wheel /opt/dist /opt/dist
RUN pip install --quiet --no-deps /opt/dist/latentlens-*.whl
COPY data/ml-latest-small /app/data/ml-latest-small
USER latentlens
EXPOSE 5000
# the defaults read data/ml-latest-small and write artifacts/latentlens.duckdb; the MLflow store goes beside it
# (a build's own default, ./mlflow.db, would be /app, which the user cannot write)
ENV MLFLOW_TRACKING_URI=sqlite:////app/artifacts/mlflow.db
CMD ["latentlens", "build"]

FROM base AS lambda
ARG PIP_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
# the handler's runtime (boto3 included: unlike the zip package's runtime, an image brings its own) and AWS's
# runtime interface client, which talks to Lambda's Runtime API
COPY --from=requirements /opt/requirements/lambda.txt /opt/src/requirements.txt
RUN pip install --quiet -c /opt/src/constraints.txt -r /opt/src/requirements.txt awslambdaric
COPY --from=wheel /opt/dist /opt/dist
RUN pip install --quiet --no-deps /opt/dist/latentlens-*.whl
# as the zip package: the artifact under the task root; s3:// and dynamodb:// through LATENTLENS_DB instead
ENV LAMBDA_TASK_ROOT=/var/task \
    LATENTLENS_DB=/var/task/artifact/latentlens.duckdb
WORKDIR /var/task
ENTRYPOINT ["python", "-m", "awslambdaric"]
CMD ["latentlens.handler.app.handler"]

FROM runtime AS api
ARG PIP_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
COPY --from=requirements /opt/requirements/api.txt /opt/src/requirements.txt
RUN pip install --quiet -c /opt/src/constraints.txt -r /opt/src/requirements.txt
COPY --from=wheel /opt/dist /opt/dist
RUN pip install --quiet --no-deps /opt/dist/latentlens-*.whl
USER latentlens
EXPOSE 8000
# on every interface of the container; compose.yaml publishes the port on the host's 127.0.0.1 only
CMD ["latentlens", "serve", "--host", "0.0.0.0", "--port", "8000"]
