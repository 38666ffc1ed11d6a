-- Argo CD health check for webhooks.bitrise.io/OutgoingWebhook.
--
-- Reads the kstatus conditions the operator writes (Ready, Reconciling,
-- Stalled) and status.observedGeneration. Written for Argo CD's sandbox:
-- only the base and table libraries (no string library), and numbers may
-- arrive as strings, hence tonumber.
hs = {}

local function findCondition(conditions, conditionType)
  if conditions == nil then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if condition.type == conditionType then
      return condition
    end
  end
  return nil
end

local function isTrue(condition)
  return condition ~= nil and condition.status == "True"
end

local function messageOf(condition, fallback)
  if condition ~= nil and condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  return fallback
end

local conditions = nil
if obj.status ~= nil then
  conditions = obj.status.conditions
end
local ready = findCondition(conditions, "Ready")
local stalled = findCondition(conditions, "Stalled")
local reconciling = findCondition(conditions, "Reconciling")

if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "OutgoingWebhook is being deleted"
  if isTrue(stalled) then
    -- Deletion waits for the user (credentials gone, or suspended).
    hs.message = "OutgoingWebhook is being deleted: " .. messageOf(stalled, "waiting")
  end
  return hs
end

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Reconciliation is suspended (spec.suspend is true)"
  return hs
end

local generation = nil
if obj.metadata ~= nil and obj.metadata.generation ~= nil then
  generation = tonumber(obj.metadata.generation)
end
local observedGeneration = nil
if obj.status ~= nil and obj.status.observedGeneration ~= nil then
  observedGeneration = tonumber(obj.status.observedGeneration)
end
if observedGeneration == nil or observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to handle the latest change"
  -- A transient error on the first pass of this generation says why.
  if isTrue(reconciling) and tonumber(reconciling.observedGeneration) == generation then
    hs.message = messageOf(reconciling, hs.message)
  end
  return hs
end

if isTrue(stalled) then
  hs.status = "Degraded"
  hs.message = messageOf(ready, messageOf(stalled, "Stalled"))
  return hs
end

if isTrue(ready) then
  hs.status = "Healthy"
  hs.message = messageOf(ready, "Ready")
  return hs
end

if isTrue(reconciling) then
  hs.status = "Progressing"
  hs.message = messageOf(reconciling, "Reconciling")
  return hs
end

hs.status = "Progressing"
hs.message = messageOf(ready, "Waiting for the Ready condition")
return hs
