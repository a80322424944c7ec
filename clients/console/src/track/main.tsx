import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { TrackPage } from "./TrackPage";
import "../styles.css";
import "./track.css";

const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <TrackPage token={decodeURIComponent(window.location.pathname.replace(/^\/track\//, "").replace(/\/+$/, ""))} />
    </StrictMode>,
  );
}
