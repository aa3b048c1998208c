# JupyterLab with the course's package, for the `lab` service of docker-compose.yml.
# The broker runs in the `kafka` service, so this image needs no Java.
FROM python:3.11-slim
RUN useradd --create-home --uid 1000 learner
WORKDIR /home/learner/eoslab
COPY --chown=learner pyproject.toml README.md nbgrader_config.py ./
COPY --chown=learner eoslab ./eoslab
RUN pip install --no-cache-dir . && jupyter lab --version
COPY --chown=learner scripts ./scripts
# nbgrader's tools for learners (assignment list, Validate); the instructor tools stay off.
RUN VENV=/usr/local scripts/setup-nbgrader-extensions.sh learner
# solutions/ holds the hidden tests that `eoslab grade` runs; course/ is what JupyterLab shows.
COPY --chown=learner solutions ./solutions
COPY --chown=learner course ./course
ENV EOSLAB_COURSE_ROOT=/home/learner/eoslab
USER learner
EXPOSE 8888
# The command (JupyterLab on course/, token authentication on) is in docker-compose.yml.
