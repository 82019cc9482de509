"""Run as a script: reads every narration through Django's ORM, inserts new ones, prints JSON.

python -m tests.django_app.probe <database url> <media root>
"""

import json
import sys
from typing import Any

import django
from django.conf import settings
from sqlalchemy.engine import make_url


def configure(url: str, media_root: str, **extra: Any) -> None:
    parsed = make_url(url)
    settings.configure(
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": parsed.database,
                "USER": parsed.username or "",
                "PASSWORD": parsed.password or "",
                "HOST": parsed.host or parsed.query.get("host", ""),
                "PORT": parsed.port or "",
            }
        },
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.postgres",
            "tests.django_app",
        ],
        USE_TZ=True,
        MEDIA_ROOT=media_root,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        **extra,
    )
    django.setup()


def main() -> None:
    configure(sys.argv[1], sys.argv[2])
    from django.contrib.auth.models import User

    from tests.django_app.models import Image, SceneAudio, Story, StoryAudio

    report: dict[str, Any] = {
        "users": sorted(User.objects.values_list("username", flat=True)),
        "story_audio": [
            {
                "id": a.id,
                "status": a.status,
                "provider": a.provider,
                "tags": a.tags,
                "theme": a.theme,
                "story": a.story.title if a.story else None,
                "audio_file": a.audio_file.name or None,
                "file_exists": bool(a.audio_file) and a.audio_file.storage.exists(a.audio_file.name),
            }
            for a in StoryAudio.objects.select_related("story").order_by("id")
        ],
        "scene_audio": [
            {
                "id": a.id,
                "status": a.status,
                "image": a.image.caption,
                "task_id": a.task_id,
                "audio_file": a.audio_file.name or None,
                "file_exists": bool(a.audio_file) and a.audio_file.storage.exists(a.audio_file.name),
            }
            for a in SceneAudio.objects.select_related("image").order_by("id")
        ],
    }
    story = Story.objects.create(title="Written by Django", content="Django still writes here.")
    new_story = StoryAudio.objects.create(
        prompt=story.content,
        story=story,
        provider="openai",
        model_backend="tts-1",
        tags=["django", "new"],
        theme="Compat",
    )
    new_scene = SceneAudio.objects.create(
        prompt="A scene Django queued.", image=Image.objects.order_by("id").first(), provider="openai"
    )
    new_story.status = "queued"
    new_story.save()
    report["inserted"] = {"story_audio": new_story.id, "scene_audio": new_scene.id}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
