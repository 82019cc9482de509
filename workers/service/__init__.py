"""What staff do through the dashboard: sign in, submit, and act on narrations.

    sign_in       password and single sign-on, each attempt booked first by throttle
    sessions      sign-ins that outlive a tab (Redis, one-time claim, cookie)
    roles         Role, SignedIn and `role_of`: what an account may do here
    access        every action re-reads the account's role before it changes anything
    submit        validate, write the queued row, commit, enqueue
    bulk          every scene of a story in one action
    actions       retry, cancel, redo passages, delete; one or all a filter shows
    samples       a few seconds of each voice, synthesized once; a lexicon entry's words, on the spot
    review        approve a narration, or request changes with comments on moments of it
    projects      a project's fallback voice and approval rule
    lexicon       add, change or remove a pronunciation; narrate the marked passages again

None imports Streamlit: the pages call these and show what they return (submit and every action
return a sentence), and tests call them directly. Uses `workers.engine` (the catalogue, validation,
the queue, storage) and `db`; never `workers.operations`.
"""
