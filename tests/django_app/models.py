"""The Django models of the schema review (`tts/models.py` and the tables they point to)."""

from django.contrib.auth.models import User
from django.contrib.postgres.fields import ArrayField
from django.db import models

PROVIDERS = [("openai", "OpenAI"), ("elevenlabs", "ElevenLabs")]
STATUSES = [
    ("queued", "Queued"),
    ("processing", "Processing"),
    ("completed", "Completed"),
    ("failed", "Failed"),
]


class Project(models.Model):
    name = models.CharField(max_length=200)

    class Meta:
        db_table = "project_project"


class Story(models.Model):
    title = models.CharField(max_length=255)
    content = models.TextField()
    project = models.ForeignKey(Project, null=True, on_delete=models.SET_NULL)

    class Meta:
        db_table = "story_story"


class Image(models.Model):
    image = models.CharField(max_length=100, null=True)
    caption = models.TextField()
    story = models.ForeignKey(Story, null=True, on_delete=models.SET_NULL)

    class Meta:
        db_table = "images_image"


class StoryAudio(models.Model):
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    prompt = models.TextField()
    base64_audio = models.TextField(blank=True, null=True)
    audio_file = models.FileField(upload_to="tts/story/", blank=True, null=True)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL)
    story = models.OneToOneField(Story, null=True, blank=True, on_delete=models.SET_NULL)
    voice_style = models.CharField(max_length=100, blank=True, null=True)
    provider = models.CharField(max_length=20, choices=PROVIDERS)
    status = models.CharField(max_length=20, choices=STATUSES, default="queued")
    model_backend = models.CharField(max_length=50)
    theme = models.CharField(max_length=100, blank=True, null=True)
    tags = ArrayField(models.CharField(max_length=50), default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "tts_storyaudio"


class SceneAudio(models.Model):
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    image = models.ForeignKey(Image, on_delete=models.CASCADE)
    prompt = models.TextField()
    base64_audio = models.TextField(blank=True, null=True)
    audio_file = models.FileField(upload_to="tts/scene/", blank=True, null=True)
    voice_style = models.CharField(max_length=100, blank=True, null=True)
    provider = models.CharField(max_length=20, choices=PROVIDERS)
    status = models.CharField(max_length=20, choices=STATUSES, default="queued")
    task_id = models.CharField(max_length=100, blank=True, null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "tts_sceneaudio"
