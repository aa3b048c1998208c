# JupyterLab with the course's package, for the `lab` service of docker-compose.yml.
# The broker runs in the `kafka` service, so this image needs no Java.
# tests/test_lab_image.py builds this file's steps without Docker (a venv for /usr/local, a non-root
# user for `learner`) and grades 00-orientation in the result.
FROM python:3.11-slim
# The working tree belongs to the learner: nbgrader writes its gradebook and exchange in .nbgrader/
# there (WORKDIR alone would create it owned by root).
RUN useradd --create-home --uid 1000 learner \
    && install -d -o learner -g learner /home/learner/eoslab
WORKDIR /home/learner/eoslab
COPY --chown=learner pyproject.toml README.md nbgrader_config.py ./
COPY --chown=learner eoslab ./eoslab
# pip builds in the tree as root: remove what it leaves so the learner owns everything here.
RUN pip install --no-cache-dir . && rm -rf build eoslab.egg-info && jupyter lab --version
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
