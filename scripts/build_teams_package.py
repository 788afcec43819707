"""Build the Teams app package (build/roombot-teams.zip): manifest with the bot's app id, and icons.

Usage: MicrosoftAppId=<guid> BOT_DOMAIN=<your bot's host> python scripts/build_teams_package.py
The manifest is validated against the official schema (npm @microsoft/app-manifest) before zipping.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def build(app_id: str, bot_domain: str, out_dir: Path = ROOT / "build") -> Path:
    if not GUID.match(app_id):
        raise SystemExit("MicrosoftAppId must be the bot's Entra app id (a GUID).")
    if not bot_domain or "/" in bot_domain:
        raise SystemExit("BOT_DOMAIN must be a host name such as roombot.contoso.com (no scheme, no path).")
    text = (ROOT / "manifest" / "manifest.json").read_text(encoding="utf-8")
    text = text.replace("${{MICROSOFT_APP_ID}}", app_id).replace("${{BOT_DOMAIN}}", bot_domain)
    manifest = json.loads(text)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    subprocess.run(["node", str(ROOT / "scripts" / "validate-manifest.mjs"), str(manifest_path)], check=True,
                   cwd=ROOT)
    package = out_dir / "roombot-teams.zip"
    with zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(manifest_path, "manifest.json")
        for icon in ("color.png", "outline.png"):
            archive.write(ROOT / "manifest" / icon, icon)
    return package


if __name__ == "__main__":
    path = build(os.environ.get("MicrosoftAppId", ""), os.environ.get("BOT_DOMAIN", ""))
    print(f"Teams app package: {path}")
    sys.exit(0)
