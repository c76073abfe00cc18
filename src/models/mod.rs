//! Model manifests, installed-model listing and `hearth models pull` (in progress).
