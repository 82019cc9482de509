# One image for every Narration Desk service: migrate, dashboard and worker differ only in command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# The lock first, so code changes do not reinstall dependencies.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY pyproject.toml requirements.in README.md ./
COPY db ./db
COPY workers ./workers
COPY dashboard ./dashboard
COPY .streamlit/config.toml ./.streamlit/config.toml
RUN pip install --no-deps . && useradd --create-home --uid 1000 narration && mkdir -p /media && chown narration /media
USER narration

CMD ["narration-desk", "worker"]
