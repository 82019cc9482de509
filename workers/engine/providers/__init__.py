"""Speech providers behind one small interface: text in, 16-bit mono PCM out.

Every provider is asked for raw PCM (OpenAI `pcm`, ElevenLabs `pcm_24000`, Piper's own samples),
so chunks join losslessly and durations are exact; the joined narration is encoded once, into
the format the user asked for (`workers.engine.encoding`).
"""
