// How the page gets a person's attention: a short chime (synthesized with WebAudio, no audio
// file) and a desktop notification that opens what it is about. Browsers play sound only after
// a gesture on the page, so the first click or key press unlocks it.
import { navigate } from "./router";

let audio: AudioContext | null = null;

/** Makes the sound possible (call on a click or key press; harmless to call again). */
export function unlockSound(): void {
  audio ??= new AudioContext();
  void audio.resume();
}

/** Unlocks the sound at the page's first gesture; answers the undo. */
export function unlockSoundOnGesture(): () => void {
  const unlock = () => unlockSound();
  document.addEventListener("pointerdown", unlock, { once: true });
  document.addEventListener("keydown", unlock, { once: true });
  return () => {
    document.removeEventListener("pointerdown", unlock);
    document.removeEventListener("keydown", unlock);
  };
}

/** A short two-note chime. */
export function chime(): void {
  if (!audio || audio.state !== "running") return;
  const start = audio.currentTime;
  const tone = audio.createOscillator();
  const volume = audio.createGain();
  tone.type = "sine";
  tone.frequency.setValueAtTime(880, start);
  tone.frequency.setValueAtTime(1320, start + 0.1);
  volume.gain.setValueAtTime(0.0001, start);
  volume.gain.exponentialRampToValueAtTime(0.15, start + 0.02);
  volume.gain.exponentialRampToValueAtTime(0.0001, start + 0.3);
  tone.connect(volume).connect(audio.destination);
  tone.start(start);
  tone.stop(start + 0.32);
}

/** Whether the browser shows this page's desktop notifications. */
export function desktopAllowed(): boolean {
  return "Notification" in window && Notification.permission === "granted";
}

/** Asks for the permission if never asked; answers whether it is granted. */
export async function askDesktop(): Promise<boolean> {
  if (!("Notification" in window)) return false;
  const permission =
    Notification.permission === "default" ? await Notification.requestPermission() : Notification.permission;
  return permission === "granted";
}

/** A desktop notification (when allowed); a click brings the tab forward at ``path``. */
export function notifyDesktop(title: string, body: string, tag: string, path: string): void {
  if (!desktopAllowed()) return;
  const shown = new Notification(title, { body, tag });
  shown.onclick = () => {
    window.focus();
    navigate(path);
    shown.close();
  };
}
