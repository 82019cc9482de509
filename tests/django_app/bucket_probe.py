"""Run as a script: the Django app on django-storages' S3Storage reads a narration's file through its
FileField and saves a scene image the way its upload form would; prints JSON.

python -m tests.django_app.bucket_probe <database url> <story audio id> <bucket> <location>

The endpoint and keys come from the standard AWS_* variables, as boto3 reads them.
"""

import hashlib
import json
import os
import sys

from django.core.files.base import ContentFile

from tests.django_app.probe import configure

SCENE_IMAGE = b"\x89PNG\r\n\x1a\n" + b"scene image saved by the Django app"


def main() -> None:
    url, row_id, bucket, location = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    configured = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "location": location,
                "endpoint_url": os.environ["AWS_ENDPOINT_URL"],
                "region_name": os.environ["AWS_REGION"],
            },
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    configure(url, "/nonexistent-media-root", STORAGES=configured)
    from django.core.files.storage import default_storage, storages

    from tests.django_app.models import StoryAudio

    row = StoryAudio.objects.get(id=row_id)
    with row.audio_file.open("rb") as handle:
        data = handle.read()
    saved = default_storage.save("images/django-scene.png", ContentFile(SCENE_IMAGE))
    print(
        json.dumps(
            {
                "name": row.audio_file.name,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "storage": type(storages["default"]).__name__,  # what FileFields and default_storage use
                "image": saved,
            }
        )
    )


if __name__ == "__main__":
    main()
