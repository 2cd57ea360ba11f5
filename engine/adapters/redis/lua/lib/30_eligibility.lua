-- 30_eligibility.lua: engine/core/eligibility.py first_reason, rule for rule.

-- The rules after the load-dependent ones (capacity, fair_share): skill, region, team.
function CC.post_reason(a, req)
  for skill, level in pairs(req.skills) do
    if (a.sk[skill] or 0) < level then return R_SKILL end
  end
  if req.rgset ~= nil then
    local inside = false
    for _, r in ipairs(a.rg) do
      if req.rgset[r] then
        inside = true
        break
      end
    end
    if not inside then return R_REGION end
  end
  if req.tmset ~= nil and not req.tmset[a.tm or ''] then return R_TEAM end
  return nil
end

local function first_reason(a, ld, t)
  local req = t.rq
  if a.st ~= AGENT_AVAILABLE then return R_STATUS end
  if a.se ~= 0 or a.wu ~= 0 then
    local why = CC.hours(a, req)
    if why ~= nil then return why end
  end
  local cool = t.exset[a.id]
  if cool ~= nil and NOW < cool then return R_EXCLUDED end
  if req.preferred ~= nil and a.id ~= req.preferred then return R_NOT_PREFERRED end
  local cap = a.cap[req.channel] or 0
  if cap <= 0 then return R_NO_CHANNEL end
  if ld >= cap then return R_CAPACITY end
  local fmax = req.fair_max
  if fmax ~= nil and fmax > 0 then
    if CC.fair_count(req.queue, a.id, req.fair_window_ms) >= fmax then return R_FAIR_SHARE end
  end
  return CC.post_reason(a, req)
end
